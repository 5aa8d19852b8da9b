import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import Job, TaskRun
from jobs.runs import task_run
from tests.plans import query_plans


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


def test_the_jobs_needing_attention_are_counted_and_filtered(admin_client, tenant, settings):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    stale = Job.objects.create(
        tenant=tenant,
        type="diagnostic",
        status=Job.Status.PROCESSING,
        attempts=1,
        heartbeat_at=now - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 5),
    )
    Job.objects.create(
        tenant=tenant, type="diagnostic", status=Job.Status.PROCESSING, heartbeat_at=now
    )
    waiting = Job.objects.create(tenant=tenant, type="diagnostic")
    Job.objects.filter(pk=waiting.pk).update(
        created_at=now - timedelta(seconds=settings.OPS_MAX_PENDING_AGE_SECONDS + 5)
    )
    Job.objects.create(tenant=tenant, type="diagnostic")  # just submitted: fine
    retrying = Job.objects.create(
        tenant=tenant, type="diagnostic", attempts=1, next_retry_at=now + timedelta(minutes=1)
    )

    body = admin_client.get("/admin/jobs/job/dashboard/").content.decode()
    for value in ["stale", "waiting", "retrying"]:
        assert f'href="/admin/jobs/job/?attention={value}" data-attention="{value}">1</a>' in body
    for value, job in [("stale", stale), ("waiting", waiting), ("retrying", retrying)]:
        page = admin_client.get(f"/admin/jobs/job/?attention={value}").content.decode()
        listed = {str(j.pk) for j in Job.objects.all() if f"/admin/jobs/job/{j.pk}/change/" in page}
        assert listed == {str(job.pk)}, value


def test_the_dashboard_shows_each_capped_type_and_its_jobs_waiting_for_a_slot(
    admin_client, tenant, settings
):
    from jobs.services import CLAIM_LATER, job_claim, job_submit

    settings.JOBS_MAX_CONCURRENCY = {"diagnostic": 1}
    running = job_submit(tenant=tenant, type="diagnostic", payload={})
    assert isinstance(job_claim(running.pk), Job)
    waiting = job_submit(tenant=tenant, type="diagnostic", payload={})
    assert job_claim(waiting.pk) == CLAIM_LATER

    body = admin_client.get("/admin/jobs/job/dashboard/").content.decode()
    row = body.split('<table id="concurrency-caps">')[1].split("</table>")[0]
    assert "<td>diagnostic</td><td>1</td><td>—</td>" in row
    assert "<td>1</td><td><a href=" in row  # one running
    assert 'data-waiting="diagnostic">1</a>' in row
    assert "<td>story_generation</td><td>5</td><td>2</td>" in row
    page = admin_client.get("/admin/jobs/job/?attention=capacity&type=diagnostic").content.decode()
    listed = {str(j.pk) for j in Job.objects.all() if f"/admin/jobs/job/{j.pk}/change/" in page}
    assert listed == {str(waiting.pk)}


def test_the_dashboard_shows_waits_to_the_second(admin_client, tenant):
    from datetime import timedelta

    from django.utils import timezone

    job = Job.objects.create(tenant=tenant, type="diagnostic")
    # The clock stands still while the page is made: its wait is the one set here, however long
    # a loaded machine takes to answer.
    with time_machine.travel(timezone.now(), tick=False):
        Job.objects.filter(pk=job.pk).update(
            created_at=timezone.now() - timedelta(minutes=1, seconds=6, microseconds=66377)
        )
        page = admin_client.get("/admin/jobs/job/dashboard/").content.decode()
    assert "<td>0:01:06</td>" in page
    assert "0:01:06." not in page


def test_the_dashboard_and_queue_stats_name_who_fills_the_queues(
    admin_client, tenant, other_tenant
):
    import json
    from io import StringIO

    from django.core.management import call_command

    for workspace, count in ((tenant, 3), (other_tenant, 1)):
        for _ in range(count):
            Job.objects.create(tenant=workspace, type="diagnostic")
    # Its retry is an hour away: pending, but not due.
    Job.objects.create(
        tenant=tenant, type="diagnostic", next_retry_at=timezone.now() + timedelta(hours=1)
    )
    page = admin_client.get("/admin/jobs/job/dashboard/").content.decode()
    link = f'<a href="/admin/jobs/job/?tenant={tenant.pk}&amp;due=yes"'
    assert f'{link} data-workspace="alice">3</a>' in page
    listed = admin_client.get(f"/admin/jobs/job/?tenant={tenant.pk}&due=yes")
    assert listed.context["cl"].result_count == 3
    out = StringIO()
    call_command("queue_stats", stdout=out)
    assert "Most due pending, by workspace: alice=3, " in out.getvalue()
    out = StringIO()
    call_command("queue_stats", "--json", stdout=out)
    assert json.loads(out.getvalue())["due_by_workspace"][0] == {"workspace": "alice", "due": 3}


def test_each_schedules_last_run_is_the_one_that_ran_not_another_beats_skip(admin_client, db):
    from datetime import timedelta

    from django.utils import timezone

    from core.scheduling import schedules_sync

    schedules_sync()
    now = timezone.now()
    TaskRun.objects.create(
        name="ops_health_check", started_at=now, outcome="ok", counts={"findings": ["ran-here"]}
    )
    TaskRun.objects.create(
        name="ops_health_check", started_at=now + timedelta(milliseconds=4), outcome="skipped"
    )
    TaskRun.objects.create(name="jobs_sweep", started_at=now, outcome="skipped")

    body = admin_client.get("/admin/jobs/job/dashboard/").content.decode()

    assert "ran-here" in body
    # A schedule whose only run was skipped still shows it.
    assert body.count("<td>skipped</td>") == 1


def _chosen(page) -> dict:
    """What the jobs list's sidebar shows chosen, by filter title (filters left at All, or the
    date at Any date, omitted)."""
    cl = page.context["cl"]
    return {
        spec.title: choice["display"]
        for spec in cl.filter_specs
        for choice in spec.choices(cl)
        if choice["selected"] and choice["display"] not in ("All", "Any date")
    }


def test_the_dashboards_links_choose_the_jobs_lists_own_filters(admin_client, tenant):
    failed = Job.objects.create(
        tenant=tenant, type="diagnostic", status=Job.Status.FAILED, finished_at=timezone.now()
    )
    Job.objects.create(
        tenant=tenant, type="invoice_pdf", status=Job.Status.FAILED, finished_at=timezone.now()
    )
    context = admin_client.get("/admin/jobs/job/dashboard/").context
    (row,) = [row for row in context["counts"] if row["type"] == "diagnostic"]
    cell = row["cells"][Job.Status.values.index("failed")]
    (last_hour,) = [row for row in context["last_hour"] if row["type"] == "diagnostic"]

    for url, expected in [
        (cell["url"], {"status": "Failed", "queue": "normal", "type": "diagnostic"}),
        (last_hour["failed_url"], {"status": "Failed", "type": "diagnostic"}),
    ]:
        page = admin_client.get(url)
        assert [job.pk for job in page.context["cl"].result_list] == [failed.pk]
        assert _chosen(page) == expected
        # Another type chosen in the sidebar takes this one's place.
        cl = page.context["cl"]
        (type_filter,) = [spec for spec in cl.filter_specs if spec.title == "type"]
        (other,) = [c for c in type_filter.choices(cl) if c["display"] == "invoice_pdf"]
        refined = admin_client.get(f"/admin/jobs/job/{other['query_string']}")
        assert refined.context["cl"].result_count == 1
        assert _chosen(refined) == {**expected, "type": "invoice_pdf"}


def test_each_open_alert_is_shown_once_with_how_many_admins_it_went_to(admin_client, tenant):
    import re

    from accounts.models import Notification
    from accounts.services import notify_admins
    from jobs.monitoring import ops_health_check
    from tests.factories import MembershipFactory, UserFactory

    UserFactory(username="ops@example.com", is_staff=True, is_superuser=True)
    for email in ["alice@example.com", "carol@example.com"]:
        MembershipFactory(tenant=tenant, user=UserFactory(username=email))
    for n in range(19):
        notify_admins(
            tenant=None, kind=Notification.Kind.OPS, title=f"Old alert {n}", alert_key=f"old:{n}"
        )
    ops_health_check()  # no worker seen: both superusers are told
    notify_admins(
        tenant=tenant,
        kind=Notification.Kind.BUDGET_ALERT,
        title="Website redesign reached 80% of its budget",
        alert_key="budget:1:80",
    )

    page = admin_client.get("/admin/jobs/job/dashboard/").content.decode()
    listed = re.findall(r"<li>.*?</li>", page.split('<ul id="open-alerts">')[1].split("</ul>")[0])
    assert len(listed) == 20
    assert listed[0].endswith(
        "Website redesign reached 80% of its budget (Alice&#x27;s workspace), to 2 admins</li>"
    )
    assert listed[1].endswith("No worker has been seen for 120 seconds, to 2 admins</li>")
    assert sum("Old alert" in line for line in listed) == 18
    assert "Old alert 0," not in page
    assert "The latest 20 of 21 open alerts." in page


def test_the_dashboard_and_queue_stats_name_the_queues_no_worker_serves(admin_client, db):
    import json
    from io import StringIO

    from django.core.management import call_command

    from jobs.models import WorkerSeen

    now = timezone.now()
    WorkerSeen.objects.create(hostname="w1@a", queues="system,urgent", concurrency=2)
    WorkerSeen.objects.create(hostname="w2@b", queues="urgent,batch", concurrency=3)
    # Neither serves `normal` any more: one is gone, the other was told to stop.
    WorkerSeen.objects.create(
        hostname="w3@c", queues="normal", concurrency=4, last_seen_at=now - timedelta(minutes=5)
    )
    WorkerSeen.objects.create(hostname="w4@d", queues="normal", concurrency=4, stopped_at=now)

    page = admin_client.get("/admin/jobs/job/dashboard/").content.decode()
    assert '<p class="errornote" id="unserved-queues">No worker seen serves normal:' in page
    assert '<td data-processes="urgent">5</td>' in page
    assert '<td data-processes="normal"><strong>none</strong></td>' in page
    assert '<td data-processes="batch">3</td>' in page
    out = StringIO()
    call_command("queue_stats", stdout=out)
    assert "Worker processes by queue: system=2, urgent=5, normal=0, batch=3\n" in out.getvalue()
    assert "No worker seen serves normal: nothing sent there runs" in out.getvalue()
    out = StringIO()
    call_command("queue_stats", "--json", stdout=out)
    assert json.loads(out.getvalue())["worker_processes"] == {
        "system": 2,
        "urgent": 5,
        "normal": 0,
        "batch": 3,
    }

    WorkerSeen.objects.filter(hostname="w1@a").update(stopped_at=now)
    page = admin_client.get("/admin/jobs/job/dashboard/").content.decode()
    assert "No worker seen serves system, normal:" in page
    assert "without <code>system</code> the schedules never run" in page


@pytest.mark.parametrize(
    ("counting", "index"),
    [
        # By queue, type and status, of every job.
        ("GROUP BY 1, 2, 3", "job_queue_type_idx"),
        # The due jobs by queue, the workspaces with the most, those retrying or waiting too long.
        ('SELECT "jobs_job"."priority" AS "priority", COUNT(*)', "job_pending_due_idx"),
        ('"accounts_tenant"."slug"', "job_pending_due_idx"),
        ('"jobs_job"."attempts" > 0', "job_pending_due_idx"),
        ('"jobs_job"."waiting_since" IS NULL', "job_pending_due_idx"),
        # Each type's last hour.
        ('"jobs_job"."finished_at" >=', None),
    ],
)
def test_the_dashboard_counts_jobs_in_indexes_without_reading_their_rows(
    admin_client, tenant, counting, index
):
    now = timezone.now()
    Job.objects.create(tenant=tenant, type="diagnostic")
    Job.objects.create(
        tenant=tenant, type="diagnostic", attempts=1, next_retry_at=now + timedelta(minutes=1)
    )
    for status in [Job.Status.COMPLETED, Job.Status.FAILED]:
        Job.objects.create(
            tenant=tenant, type="diagnostic", status=status, started_at=now, finished_at=now
        )

    with CaptureQueriesContext(connection) as captured:
        context = admin_client.get("/admin/jobs/job/dashboard/").context

    assert context["status_cells"][0] == {
        "status": "pending",
        "count": 2,
        "url": "/admin/jobs/job/?status__exact=pending",
    }
    (last_hour,) = context["last_hour"]
    assert (last_hour["type"], last_hour["completed"], last_hour["failed"]) == ("diagnostic", 1, 1)
    # A job's row holds its payload and result: a backlog of them, or the whole history, read row
    # by row took a second.
    (plan,) = query_plans(captured, "jobs_job", counting, off=("seqscan", "bitmapscan"))
    if index:
        assert f"Index Only Scan using {index}" in plan, plan
    else:
        # Each type's jobs finished since, from the type's place in an index of finish times
        # (job_type_finished_idx, as the table grows), not every finished job's.
        assert re.search(r"Index Cond: .*type", plan), plan
