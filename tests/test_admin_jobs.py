"""The jobs admin during an incident: the latest history first, read from indexes however many
jobs and events the tables hold."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.admin import ACTION_MAX_OBJECTS
from jobs.models import Job, JobEvent
from tests.jobs.factories import JobFactory
from tests.plans import query_plans


def _page(client, url: str) -> tuple[str, CaptureQueriesContext]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return response.content.decode(), captured


def _act(client, action: str, jobs, changelist: str = "/admin/jobs/job/", **extra) -> list[str]:
    data = {"action": action, "_selected_action": [str(job.pk) for job in jobs], **extra}
    response = client.post(changelist, data, follow=True)
    assert response.status_code == 200
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_the_job_events_list_shows_the_newest_first_from_an_index(admin_client, tenant):
    job = JobFactory(tenant=tenant)
    now = timezone.now()
    JobEvent.objects.create(
        job=job, kind=JobEvent.Kind.STARTED, message="a month ago", created_at=now - timedelta(30)
    )
    JobEvent.objects.create(job=job, kind=JobEvent.Kind.FAILED, message="just now", created_at=now)
    # More than a page, so the list reads one page of them, as it does at volume.
    JobEvent.objects.bulk_create(
        JobEvent(job=job, kind=JobEvent.Kind.STARTED, created_at=now - timedelta(days=60))
        for _ in range(100)
    )

    page, captured = _page(admin_client, "/admin/jobs/jobevent/")

    assert page.index("just now") < page.index("a month ago")
    # Whatever statistics the table was left with (the migrations analyze it, empty): as at volume.
    plans = query_plans(captured, "jobs_jobevent", off=("seqscan", "sort"))
    listed = [plan for plan in plans if "Limit" in plan]
    assert listed
    for plan in listed:
        assert "jobevent_created_idx" in plan and "Sort" not in plan, plan


def test_a_job_id_pasted_in_the_jobs_search_is_looked_up_by_primary_key(admin_client, tenant):
    job, other = JobFactory(tenant=tenant), JobFactory(tenant=tenant)

    page, captured = _page(admin_client, f"/admin/jobs/job/?q=+{str(job.pk).upper()}+")

    assert str(job.pk) in page and str(other.pk) not in page
    for plan in query_plans(captured, "jobs_job", containing="WHERE"):
        assert "jobs_job_pkey" in plan and "Seq Scan" not in plan, plan


def test_the_jobs_search_finds_a_workspaces_jobs_through_indexes(
    admin_client, tenant, other_tenant
):
    alices, bobs = JobFactory(tenant=tenant), JobFactory(tenant=other_tenant)

    page, captured = _page(admin_client, "/admin/jobs/job/?q=alice")

    assert str(alices.pk) in page and str(bobs.pk) not in page
    # Only the workspace's jobs are read: through the index on their workspace, not by a filter
    # on every job.
    for plan in query_plans(captured, "jobs_job", containing="WHERE"):
        assert re.search(r"Index Cond: \(+(jobs_job\.)?tenant_id = ", plan), plan


def test_a_job_id_in_the_job_events_search_lists_its_events_from_an_index(admin_client, tenant):
    job, other = JobFactory(tenant=tenant), JobFactory(tenant=tenant)
    JobEvent.objects.create(job=job, kind=JobEvent.Kind.STARTED, message="On host-a.")
    JobEvent.objects.create(job=other, kind=JobEvent.Kind.STARTED, message="On host-b.")

    page, captured = _page(admin_client, f"/admin/jobs/jobevent/?q={job.pk}")

    assert "On host-a." in page and "On host-b." not in page
    for plan in query_plans(captured, "jobs_jobevent", containing="WHERE"):
        assert "Seq Scan" not in plan, plan


def test_a_jobs_page_shows_its_latest_history_and_links_to_all_of_it(admin_client, tenant):
    job = JobFactory(tenant=tenant)
    start = timezone.now() - timedelta(hours=1)
    # A job waiting on a provider's rate limit writes a line each time it looks again.
    JobEvent.objects.bulk_create(
        JobEvent(
            job=job,
            kind=JobEvent.Kind.WAITING,
            message=f"Look {i}.",
            created_at=start + timedelta(seconds=i),
        )
        for i in range(2000)
    )

    page, _ = _page(admin_client, f"/admin/jobs/job/{job.pk}/change/")

    assert re.findall(r"Look (\d+)\.", page) == [str(i) for i in range(1999, 1949, -1)]
    link = f"/admin/jobs/jobevent/?q={job.pk}"
    assert f'<a href="{link}">All 2,000 events</a>' in page
    assert "2000 job events" in admin_client.get(link).content.decode()


def test_the_cancel_action_tells_canceled_jobs_from_jobs_asked_to_stop(admin_client, tenant):
    pending = JobFactory(tenant=tenant)
    # Its worker died an hour ago: it stays processing until the stale-job reaper takes it.
    processing = JobFactory(
        tenant=tenant,
        status=Job.Status.PROCESSING,
        attempts=1,
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )

    said = _act(admin_client, "cancel_jobs", [pending, processing])

    assert set(said) == {
        "Canceled 1 job(s).",
        "Asked 1 processing job(s) to stop: each ends canceled at its next check, or when the "
        "stale-job reaper finds its worker gone.",
    }
    processing.refresh_from_db()
    assert (processing.status, processing.cancel_requested) == (Job.Status.PROCESSING, True)


@pytest.mark.parametrize(
    ("action", "status", "command"),
    [
        ("cancel_jobs", Job.Status.PENDING, "manage.py clean_queue --status pending"),
        ("retry_jobs", Job.Status.FAILED, "manage.py retry_job <id>…"),
        ("requeue_jobs", Job.Status.FAILED, "manage.py requeue_job <id>…"),
        ("delete_selected", Job.Status.COMPLETED, "manage.py clean_queue --status <status>"),
    ],
    ids=["cancel", "retry", "requeue", "delete"],
)
def test_an_action_on_more_jobs_than_a_request_can_change_changes_none_and_says_what_to_do(
    admin_client, tenant, action, status, command
):
    jobs = Job.objects.bulk_create(
        Job(tenant=tenant, type="diagnostic", status=status) for _ in range(ACTION_MAX_OBJECTS + 1)
    )

    # "Select all" of the filtered list, as an operator facing a runaway backlog does.
    said = _act(
        admin_client,
        action,
        jobs[:1],
        changelist=f"/admin/jobs/job/?status__exact={status}",
        select_across="1",
        index="0",
    )

    assert len(said) == 1
    assert said[0].startswith(
        f"{ACTION_MAX_OBJECTS + 1} jobs are selected: an action here changes at most "
        f"{ACTION_MAX_OBJECTS} at once, so none was changed."
    )
    assert command in said[0]
    assert set(Job.objects.values_list("status", flat=True)) == {status}
    assert Job.objects.count() == ACTION_MAX_OBJECTS + 1


def test_an_action_says_how_many_more_it_refused_than_it_lists(admin_client, tenant):
    finished = [JobFactory(tenant=tenant, status=Job.Status.COMPLETED) for _ in range(23)]

    said = _act(admin_client, "cancel_jobs", finished)

    assert len(said) == 21
    assert all("The job is completed" in reason for reason in said[:20])
    assert said[20] == "3 more jobs were not changed."


def test_a_job_deleted_in_the_admin_before_it_finished_gives_its_credits_back_once(
    admin_client, tenant
):
    from accounts.models import CreditEntry
    from jobs.services import job_submit

    tenant.credit_balance = 100
    tenant.save()
    with override_settings(JOB_CREDIT_COSTS={"diagnostic": 7}):
        pending, other = (
            job_submit(tenant=tenant, type="diagnostic", payload={"steps": 1}) for _ in range(2)
        )
    finished = JobFactory(tenant=tenant, status=Job.Status.COMPLETED)
    page = f"/admin/jobs/job/{pending.pk}/delete/"
    assert admin_client.post(page, {"post": "yes"}).status_code == 302
    bulk = {"action": "delete_selected", "_selected_action": [other.pk, finished.pk]}
    assert admin_client.post("/admin/jobs/job/", {**bulk, "post": "yes"}).status_code == 302
    assert not Job.objects.exists()
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100
    refunds = CreditEntry.objects.filter(kind=CreditEntry.Kind.REFUND)
    assert [(entry.amount, entry.reason) for entry in refunds] == [
        (7, "diagnostic job canceled")
    ] * 2


def test_a_pending_story_deleted_in_the_admin_leaves_its_story_failed_not_generating(
    admin_client, tenant
):
    from generations.models import Story
    from jobs.services import job_submit

    job = job_submit(tenant=tenant, type="story_generation", payload={"prompt": "A lighthouse"})

    assert (
        admin_client.post(f"/admin/jobs/job/{job.pk}/delete/", {"post": "yes"}).status_code == 302
    )

    assert not Job.objects.exists()
    story = Story.objects.get()
    assert story.status == Story.Status.FAILED
    assert story.error.startswith("CANCELED:")


def test_a_processing_job_is_not_deleted_until_it_has_stopped(admin_client, tenant):
    running = JobFactory(tenant=tenant, status=Job.Status.PROCESSING, attempts=1)
    done = JobFactory(tenant=tenant, status=Job.Status.COMPLETED)
    refusal = f"Job {running.pk} is processing: cancel it first, and delete it once it has stopped."

    page = admin_client.post(f"/admin/jobs/job/{running.pk}/delete/", {"post": "yes"})
    assert page.status_code == 200 and refusal in page.content.decode()
    bulk = {"action": "delete_selected", "_selected_action": [running.pk, done.pk], "post": "yes"}
    assert refusal in admin_client.post("/admin/jobs/job/", bulk).content.decode()

    assert Job.objects.count() == 2
    running.refresh_from_db()
    assert running.status == Job.Status.PROCESSING and not running.cancel_requested


def test_the_jobs_list_links_to_the_queue_dashboard(admin_client):
    page = admin_client.get("/admin/jobs/job/").content.decode()
    assert '<a href="/admin/jobs/job/dashboard/">Queue dashboard</a>' in page
    assert admin_client.get("/admin/jobs/job/dashboard/").status_code == 200


def test_the_queue_dashboards_breadcrumbs_lead_back_through_the_jobs_app(admin_client):
    page = admin_client.get("/admin/jobs/job/dashboard/").content.decode()
    breadcrumbs = page.split('<div class="breadcrumbs">')[1].split("</div>")[0]
    assert re.sub(r"\s+", " ", breadcrumbs).strip() == (
        '<a href="/admin/">Home</a> &rsaquo; <a href="/admin/jobs/">Jobs</a> &rsaquo; Queue dashboard'
    )


def test_the_jobs_list_names_each_jobs_queue_as_the_api_and_workers_do(admin_client, tenant):
    JobFactory(tenant=tenant, priority="urgent")
    JobFactory(tenant=tenant, priority="batch")

    page = admin_client.get("/admin/jobs/job/?priority__exact=urgent")

    cl = page.context["cl"]
    (queue_filter,) = [spec for spec in cl.filter_specs if spec.title == "queue"]
    assert [choice["display"] for choice in queue_filter.choices(cl)] == [
        "All",
        "urgent",
        "normal",
        "batch",
    ]
    assert [job.priority for job in cl.result_list] == ["urgent"]
    body = page.content.decode()
    assert '<details data-filter-title="queue" open>' in body and "By priority" not in body
    assert '<td class="field-queue">urgent</td>' in body


def test_times_in_the_admin_name_their_time_zone(admin_client, admin_user, tenant, settings):
    from datetime import UTC, datetime

    from accounts.models import Notification

    settings.TIME_ZONE = "Europe/Oslo"
    winter = datetime(2026, 12, 4, 16, 20, tzinfo=UTC)
    job = JobFactory(tenant=tenant, created_at=winter)
    alert = Notification.objects.create(user=admin_user, kind="ops", alert_key="ops:x", title="Hm")
    Notification.objects.filter(pk=alert.pk).update(created_at=winter)

    page = admin_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    dashboard = admin_client.get("/admin/jobs/job/dashboard/").content.decode()

    assert "Dec. 4, 2026, 5:20:00 p.m. CET" in page
    assert "2026-12-04 17:20 CET — Hm" in dashboard


def test_the_admin_lists_show_times_to_the_second_and_the_api_keeps_iso(
    admin_client, api_client, tenant, settings
):
    from datetime import UTC, datetime

    from jobs.models import TaskRun

    settings.TIME_ZONE = "Europe/Oslo"
    started = datetime(2026, 12, 4, 16, 20, 7, 250000, tzinfo=UTC)
    job = JobFactory(tenant=tenant, created_at=started)
    TaskRun.objects.create(
        name="jobs_sweep", started_at=started, finished_at=started + timedelta(seconds=2)
    )

    jobs = admin_client.get("/admin/jobs/job/").content.decode()
    runs = admin_client.get("/admin/jobs/taskrun/").content.decode()

    assert '<td class="field-created_at nowrap">Dec. 4, 2026, 5:20:07 p.m. CET</td>' in jobs
    assert '<td class="field-started_at nowrap">Dec. 4, 2026, 5:20:07 p.m. CET</td>' in runs
    assert '<td class="field-finished_at nowrap">Dec. 4, 2026, 5:20:09 p.m. CET</td>' in runs
    polled = api_client.get(f"/api/v1/jobs/{job.pk}").json()
    assert polled["created_at"] == "2026-12-04T17:20:07.250000+01:00"


def test_a_jobs_delete_page_counts_its_many_events_on_one_line(admin_client, tenant):
    from accounts.admin import DELETION_LISTED_PER_MODEL

    busy, quiet = JobFactory(tenant=tenant), JobFactory(tenant=tenant)
    JobEvent.objects.bulk_create(
        JobEvent(job=busy, kind=JobEvent.Kind.WAITING, message=f"wait {n}")
        for n in range(DELETION_LISTED_PER_MODEL + 1)
    )
    JobEvent.objects.create(job=quiet, kind=JobEvent.Kind.STARTED, message="once")
    bulk = {"action": "delete_selected", "_selected_action": [busy.pk, quiet.pk]}

    page = admin_client.post("/admin/jobs/job/", bulk).content.decode()

    assert "Are you sure" in page
    assert f"<li>Job events: {DELETION_LISTED_PER_MODEL + 1}</li>" in page
    # Every event of the deletion is counted on its job's line, the quiet job's one included.
    assert "<li>Job event: 1</li>" in page
    assert "wait 0" not in page
    assert admin_client.post("/admin/jobs/job/", {**bulk, "post": "yes"}).status_code == 302
    assert not Job.objects.exists() and not JobEvent.objects.exists()


def test_a_deletion_of_more_rows_than_a_request_can_delete_is_refused(
    admin_client, tenant, monkeypatch
):
    import accounts.admin

    monkeypatch.setattr(accounts.admin, "DELETION_MAX_ROWS", 5)
    job = JobFactory(tenant=tenant)
    JobEvent.objects.bulk_create(JobEvent(job=job, kind=JobEvent.Kind.STARTED) for _ in range(5))
    refusal = "This deletion takes 6 rows with what they own, more than the 5 the admin deletes"

    page = admin_client.post(f"/admin/jobs/job/{job.pk}/delete/", {"post": "yes"})

    assert page.status_code == 200 and refusal in page.content.decode()
    assert JobEvent.objects.filter(job=job).count() == 5


def test_the_job_events_list_is_sorted_only_by_time(admin_client, tenant):
    JobEvent.objects.create(job=JobFactory(tenant=tenant), kind=JobEvent.Kind.STARTED)
    page = admin_client.get("/admin/jobs/jobevent/").content.decode()
    headers = re.findall(r'<th scope="col" class="([^"]*)"', page)
    assert [header for header in headers if "sortable" in header] == [
        "sortable column-created_at sorted descending"
    ]


def test_the_jobs_list_is_sorted_only_by_time_of_submission(admin_client, tenant):
    now = timezone.now()
    older = JobFactory(
        tenant=tenant,
        status=Job.Status.FAILED,
        error_code="A_FIRST",
        created_at=now - timedelta(hours=2),
        finished_at=now,
    )
    newer = JobFactory(
        tenant=tenant,
        status=Job.Status.FAILED,
        error_code="Z_LAST",
        created_at=now - timedelta(hours=1),
        finished_at=now - timedelta(minutes=30),
    )
    # Finished, error code, attempts, progress: asked for by `?o=` (a bookmark, a link made by
    # hand), each would sort every job for a page.
    for column in ["10", "8", "-7.6"]:
        page, captured = _page(admin_client, f"/admin/jobs/job/?o={column}")

        headers = re.findall(r'<th scope="col" class="([^"]*)"', page)
        assert [header for header in headers if "sortable" in header] == [
            "sortable column-created_at sorted descending"
        ]
        assert page.index(str(newer.pk)) < page.index(str(older.pk))
        (listed,) = [
            q["sql"] for q in captured if 'FROM "jobs_job"' in q["sql"] and "ORDER BY" in q["sql"]
        ]
        assert 'ORDER BY "jobs_job"."created_at" DESC' in listed, listed
