import pytest

from jobs.models import Job
from tests.worker import running_worker, wait_for


@pytest.mark.django_db(transaction=True)
def test_a_submitted_job_completes_on_a_real_worker(api_client):
    with running_worker():
        response = api_client.post(
            "/api/v1/jobs",
            {"type": "diagnostic", "payload": {"steps": 3, "step_seconds": 0.1}},
            format="json",
        )
        assert response.status_code == 202
        job = Job.objects.get(pk=response.json()["id"])
        wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, message="job finished")
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED, job.error_message
    assert job.result == {"steps": 3, "attempt": 1}
    assert job.progress == 100
