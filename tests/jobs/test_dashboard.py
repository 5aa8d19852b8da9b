from jobs.models import Job, TaskRun
from jobs.runs import task_run


def test_the_dashboard_shows_counts_and_links_to_the_dead_letter(admin_client, tenant):
    Job.objects.create(
        tenant=tenant, type="diagnostic", status=Job.Status.FAILED, error_code="BOOM"
    )
    Job.objects.create(tenant=tenant, type="diagnostic")
    with task_run("jobs_sweep") as run:
        run.counts = {"published": 0}
    response = admin_client.get("/admin/jobs/job/dashboard/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'href="/admin/jobs/job/?dead_letter=yes" id="dead-letter-link">1 to retry' in body
    assert "No worker has been seen" in body
    assert TaskRun.objects.filter(name="jobs_sweep").exists()
    dead_letter = admin_client.get("/admin/jobs/job/?dead_letter=yes")
    assert dead_letter.status_code == 200
    assert "BOOM" in dead_letter.content.decode()
