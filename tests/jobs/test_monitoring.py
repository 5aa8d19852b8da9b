import contextlib
import json
import os
import signal
import socket
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.models import Notification
from jobs.models import BeatSeen, Job, TaskRun, WorkerSeen
from jobs.monitoring import HEALTH_CHECK, ops_health_check, ops_health_check_if_late
from jobs.selectors import beats_ticking
from jobs.signals import beat_seen_start
from tests.factories import UserFactory
from tests.worker import running_beat, wait_for, worker_stop


@pytest.fixture
def platform_staff(db):
    return UserFactory(username="ops@example.com", is_staff=True, is_superuser=True)


def _seen_worker():
    WorkerSeen.objects.create(hostname="w1@host", last_seen_at=timezone.now())


def _run(name, outcome=TaskRun.Outcome.OK, ago=timedelta(minutes=1), **counts):
    started = timezone.now() - ago
    return TaskRun.objects.create(
        name=name, started_at=started, finished_at=started, outcome=outcome, counts=counts
    )


def test_metrics_count_submissions_and_show_queue_depth(api_client, client):
    api_client.post("/api/v1/jobs", {"type": "diagnostic", "payload": {}}, format="json")
    response = client.get("/metrics")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'offload_jobs_submitted_total{type="diagnostic"} 1.0' in body
    assert 'offload_queue_pending{queue="normal"} 1.0' in body
    assert "offload_jobs_waiting_for_slot{" not in body


def test_metrics_count_the_worker_processes_serving_each_queue(client, db):
    WorkerSeen.objects.create(hostname="w1@a", queues="system,urgent,normal", concurrency=2)
    WorkerSeen.objects.create(hostname="w2@b", queues="urgent", concurrency=3)
    WorkerSeen.objects.create(
        hostname="w3@c", queues="batch", concurrency=4, stopped_at=timezone.now()
    )
    body = client.get("/metrics").content.decode()
    assert 'offload_queue_worker_processes{queue="system"} 2.0' in body
    assert 'offload_queue_worker_processes{queue="urgent"} 5.0' in body
    assert 'offload_queue_worker_processes{queue="normal"} 2.0' in body
    # Told to stop, its worker takes nothing more from it.
    assert 'offload_queue_worker_processes{queue="batch"} 0.0' in body
    assert "offload_workers_seen 2.0" in body


def test_metrics_show_the_jobs_waiting_for_a_slot(tenant, client, settings):
    from jobs.services import CLAIM_LATER, job_claim, job_submit

    settings.JOBS_MAX_CONCURRENCY = {"diagnostic": 1}
    job_claim(job_submit(tenant=tenant, type="diagnostic", payload={}).pk)
    for _ in range(2):
        assert job_claim(job_submit(tenant=tenant, type="diagnostic", payload={}).pk) == CLAIM_LATER
    body = client.get("/metrics").content.decode()
    assert 'offload_jobs_waiting_for_slot{type="diagnostic"} 2.0' in body


def test_metrics_count_each_open_alert_once_by_kind(client, platform_staff):
    from accounts.services import notify_admins

    UserFactory(username="ops2@example.com", is_staff=True, is_superuser=True)
    for key in ("no-worker", "pending-too-long"):
        notify_admins(tenant=None, kind="ops", title=key, alert_key=key)
    assert Notification.objects.count() == 4
    body = client.get("/metrics").content.decode()
    assert 'offload_open_alerts{kind="ops"} 2.0' in body
    Notification.objects.filter(alert_key="no-worker").update(resolved_at=timezone.now())
    assert 'offload_open_alerts{kind="ops"} 1.0' in client.get("/metrics").content.decode()


def test_metrics_refuse_other_addresses_without_the_token(client, settings, db):
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    allowed = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret")
    assert allowed.status_code == 200


def test_no_worker_alerts_staff_once_and_resolves_when_one_is_seen(platform_staff):
    ops_health_check()
    ops_health_check()
    alerts = Notification.objects.filter(alert_key="ops:no-worker")
    assert alerts.count() == 1
    assert len(mail.outbox) == 0  # email goes out on commit; the test transaction never commits
    _seen_worker()
    ops_health_check()
    assert alerts.get().resolved_at is not None


def test_a_queue_no_worker_serves_alerts_until_one_does(platform_staff, settings):
    now = timezone.now()
    WorkerSeen.objects.create(hostname="w1@a", queues="urgent,normal,batch", last_seen_at=now)
    # Told to stop a minute ago: it still counts, so that a restart alerts no one.
    WorkerSeen.objects.create(
        hostname="w2@b", queues="system,batch", last_seen_at=now - timedelta(minutes=1)
    )
    assert ops_health_check()["findings"] == []

    with time_machine.travel(now + timedelta(seconds=settings.OPS_WORKER_SILENT_SECONDS - 30)):
        WorkerSeen.objects.filter(hostname="w1@a").update(last_seen_at=timezone.now())
        assert ops_health_check()["findings"] == ["queues-unserved"]
        ops_health_check()
    alert = Notification.objects.get(alert_key="ops:queues-unserved")
    assert alert.title == "No worker has served the system queue for 120 seconds"
    assert alert.payload == {"queues": ["system"]}

    WorkerSeen.objects.filter(hostname="w1@a").update(queues="system,urgent,normal,batch")
    ops_health_check()
    alert.refresh_from_db()
    assert alert.resolved_at is not None

    # With no worker at all, the no-worker alert alone says so.
    WorkerSeen.objects.update(last_seen_at=now - timedelta(hours=1))
    assert ops_health_check()["findings"] == ["no-worker"]


def test_a_late_budget_check_alerts(platform_staff):
    _seen_worker()
    _run("jobs_sweep", ago=timedelta(hours=2))
    _run("budget_alert_check", ago=timedelta(minutes=45))
    assert "budget-check-late" in ops_health_check()["findings"]
    _run("budget_alert_check", ago=timedelta(minutes=2))
    assert "budget-check-late" not in ops_health_check()["findings"]


def test_invoice_pdf_failures_over_ten_percent_alert(platform_staff, tenant):
    _seen_worker()
    now = timezone.now()
    for status in [Job.Status.FAILED] * 2 + [Job.Status.COMPLETED] * 8:
        Job.objects.create(tenant=tenant, type="invoice_pdf", status=status, finished_at=now)
    assert "pdf-failure-rate" in ops_health_check()["findings"]


def test_too_few_pdfs_are_no_sample(platform_staff, tenant):
    _seen_worker()
    Job.objects.create(
        tenant=tenant, type="invoice_pdf", status=Job.Status.FAILED, finished_at=timezone.now()
    )
    assert "pdf-failure-rate" not in ops_health_check()["findings"]


def test_a_cleanup_that_failed_for_over_100_links_alerts(platform_staff):
    _seen_worker()
    _run("share_link_cleanup", failed=101, deactivated=5)
    assert "share-link-cleanup-failures" in ops_health_check()["findings"]


@pytest.mark.parametrize("outcome", [TaskRun.Outcome.SKIPPED, TaskRun.Outcome.FAILED])
def test_a_cleanup_run_that_did_not_clean_leaves_the_failures_alert_open(platform_staff, outcome):
    _seen_worker()
    _run("share_link_cleanup", ago=timedelta(hours=1), failed=101, deactivated=5)
    ops_health_check()
    # Another beat's run found the lock taken, or a run crashed: neither cleaned a link.
    _run("share_link_cleanup", outcome=outcome)
    assert "share-link-cleanup-failures" in ops_health_check()["findings"]
    assert Notification.objects.get(alert_key="ops:cleanup-failures").resolved_at is None


def test_a_job_pending_too_long_alerts(platform_staff, tenant, settings):
    _seen_worker()
    settings.OPS_MAX_PENDING_AGE_SECONDS = 60
    Job.objects.create(
        tenant=tenant, type="diagnostic", created_at=timezone.now() - timedelta(minutes=5)
    )
    assert "pending-too-long" in ops_health_check()["findings"]


def test_jobs_waiting_for_a_slot_are_not_jobs_no_worker_takes(
    platform_staff, tenant, other_tenant, settings, admin_client
):
    from jobs.services import CLAIM_LATER, job_claim, job_submit

    _seen_worker()
    settings.JOBS_MAX_CONCURRENCY_PER_TENANT = {"diagnostic": 1}
    settings.OPS_MAX_PENDING_AGE_SECONDS = 20
    jobs = [job_submit(tenant=tenant, type="diagnostic", payload={}) for _ in range(4)]
    assert isinstance(job_claim(jobs[0].pk), Job)
    assert [job_claim(job.pk) for job in jobs[1:]] == [CLAIM_LATER] * 3

    with time_machine.travel(timezone.now() + timedelta(seconds=38)):
        assert "pending-too-long" not in ops_health_check()["findings"]
        page = admin_client.get("/admin/jobs/job/dashboard/").content.decode()
        assert 'href="/admin/jobs/job/?attention=waiting" data-attention="waiting">0</a>' in page
        assert 'href="/admin/jobs/job/?attention=capacity" data-attention="capacity">3</a>' in page

    # A due job that no worker takes still alerts, beside them.
    job_submit(tenant=other_tenant, type="diagnostic", payload={})
    with time_machine.travel(timezone.now() + timedelta(seconds=38)):
        assert "pending-too-long" in ops_health_check()["findings"]
        alert = Notification.objects.get(alert_key="ops:pending-too-long", user=platform_staff)
        assert alert.title.startswith("The oldest due job has waited 3")
        page = admin_client.get("/admin/jobs/job/dashboard/").content.decode()
        assert 'href="/admin/jobs/job/?attention=waiting" data-attention="waiting">1</a>' in page


def test_a_job_waits_from_when_it_became_due_not_from_its_creation(
    platform_staff, tenant, settings, client, admin_client
):
    from jobs.services import job_requeue, jobs_reap_stale

    _seen_worker()
    settings.OPS_MAX_PENDING_AGE_SECONDS = 600
    two_days_ago = timezone.now() - timedelta(days=2)
    dead = Job.objects.create(
        tenant=tenant, type="diagnostic", status=Job.Status.FAILED, created_at=two_days_ago
    )
    job_requeue(job=dead)  # by an operator, at 2 a.m.
    reaped = Job.objects.create(  # its worker died two days ago, as it started
        tenant=tenant,
        type="diagnostic",
        status=Job.Status.PROCESSING,
        attempts=1,
        created_at=two_days_ago,
        started_at=two_days_ago,
        heartbeat_at=two_days_ago,
    )
    assert jobs_reap_stale()["requeued"] == 1
    assert Job.objects.get(pk=reaped.pk).status == Job.Status.PENDING
    Job.objects.create(  # its backoff of a day just ended
        tenant=tenant,
        type="diagnostic",
        attempts=1,
        created_at=two_days_ago,
        next_retry_at=timezone.now() - timedelta(seconds=5),
    )

    assert not Job.objects.waiting_too_long().exists()
    assert "pending-too-long" not in ops_health_check()["findings"]
    dashboard = admin_client.get("/admin/jobs/job/dashboard/").context["queues"]
    (normal,) = [queue for queue in dashboard if queue["name"] == "normal"]
    assert normal["pending"] == 3 and normal["oldest_wait"] < timedelta(minutes=1)
    scraped = client.get("/metrics").content.decode()
    waited = float(
        scraped.split('offload_queue_oldest_pending_seconds{queue="normal"} ')[1].split()[0]
    )
    assert waited < 60

    Job.objects.create(tenant=tenant, type="diagnostic", created_at=two_days_ago)
    assert Job.objects.waiting_too_long().count() == 1
    assert "pending-too-long" in ops_health_check()["findings"]


def test_histograms_are_cumulative_on_the_wire(client, db):
    from core.metrics import JOB_DURATION, metric_observe

    for seconds in (0.07, 0.3, 0.3, 4000):
        metric_observe(JOB_DURATION, seconds, type="diagnostic")
    body = client.get("/metrics").content.decode()
    assert 'offload_job_duration_seconds_bucket{le="0.1",type="diagnostic"} 1.0' in body
    assert 'offload_job_duration_seconds_bucket{le="0.5",type="diagnostic"} 3.0' in body
    assert 'offload_job_duration_seconds_bucket{le="1800",type="diagnostic"} 3.0' in body
    assert 'offload_job_duration_seconds_bucket{le="+Inf",type="diagnostic"} 4.0' in body
    assert 'offload_job_duration_seconds_count{type="diagnostic"} 4.0' in body


def test_a_forked_worker_process_does_not_count_its_parents_metrics_again(client, db):
    from core.metrics import JOBS_SUBMITTED, metric_inc, metrics_flush

    metric_inc(JOBS_SUBMITTED, type="forked")
    child = os.fork()
    if child == 0:
        metric_inc(JOBS_SUBMITTED, type="forked")
        metrics_flush()
        os._exit(0)
    os.waitpid(child, 0)
    body = client.get("/metrics").content.decode()
    assert 'offload_jobs_submitted_total{type="forked"} 2.0' in body


def test_beat_runs_the_health_check_only_when_no_worker_ran_it_in_time(platform_staff, settings):
    settings.OPS_HEALTH_CHECK_FALLBACK_SECONDS = 600
    _run(HEALTH_CHECK, ago=timedelta(minutes=9))
    assert ops_health_check_if_late() is None
    TaskRun.objects.filter(name=HEALTH_CHECK).update(
        started_at=timezone.now() - timedelta(minutes=11)
    )
    PeriodicTask.objects.filter(name="ops-health-check").update(enabled=False)
    assert ops_health_check_if_late() is None  # paused in the admin: paused here too
    PeriodicTask.objects.filter(name="ops-health-check").update(enabled=True)
    assert "no-worker" in ops_health_check_if_late()["findings"]


@pytest.mark.django_db(transaction=True)
def test_with_every_worker_down_beat_alerts_that_no_worker_is_seen(platform_staff):
    # Its schedules go nowhere: only its own health check can raise the alert.
    beat_env = {"OPS_HEALTH_CHECK_FALLBACK_SECONDS": "1", "CELERY_BROKER_URL": "memory://"}
    with running_beat(extra_env=beat_env):
        wait_for(
            lambda: TaskRun.objects.filter(name=HEALTH_CHECK, outcome=TaskRun.Outcome.OK).exists(),
            timeout=60,
            message="beat's own health check to finish",
        )
    alert = Notification.objects.get(alert_key="ops:no-worker")
    assert (alert.user, alert.title) == (platform_staff, "No worker has been seen for 120 seconds")


def _beats_ticking_pids() -> set[int]:
    return {beat.pid for beat in beats_ticking()}


# Their schedules go nowhere: only their own ticks are looked at.
QUIET_BEAT = {"CELERY_BROKER_URL": "memory://"}


@pytest.mark.django_db(transaction=True)
def test_two_beats_at_once_are_shown_and_alerted_until_one_remains(platform_staff, admin_client):
    with running_beat(extra_env=QUIET_BEAT) as first:
        wait_for(lambda: _beats_ticking_pids() == {first.pid}, message="the first beat's tick")
        with running_beat(extra_env=QUIET_BEAT) as second:
            # Once the first has ticked since the second started, both are alive.
            wait_for(
                lambda: _beats_ticking_pids() == {first.pid, second.pid},
                message="both beats ticking",
            )
            # Raised by the first check that finds both ticking since the newest started.
            wait_for(
                lambda: "several-beats" in ops_health_check()["findings"],
                message="the health check finding both beats",
            )
            alert = Notification.objects.filter(alert_key="ops:several-beats").first()
            assert alert.title == (
                "2 beats are running: every schedule is sent 2 times; stop all but one"
            )
            page = admin_client.get("/admin/jobs/job/dashboard/").content.decode()
            assert '<p class="errornote" id="several-beats">2 beats are running: ' in page
            out = StringIO()
            call_command("queue_stats", stdout=out)
            assert "2 beats are running: " in out.getvalue()
            out = StringIO()
            call_command("queue_stats", "--json", stdout=out)
            beats = json.loads(out.getvalue())["beats"]
            assert {beat["pid"] for beat in beats} == {first.pid, second.pid}
            ready = admin_client.get("/readyz").json()
            assert {beat["pid"] for beat in ready["beats"]} == {first.pid, second.pid}
            assert "offload_beats_running 2.0" in admin_client.get("/metrics").content.decode()
        # Stopped, the second recorded its stop as it went: one beat again, at once.
        assert BeatSeen.objects.get(pid=second.pid).stopped_at is not None
        assert _beats_ticking_pids() == {first.pid}
        assert "several-beats" not in ops_health_check()["findings"]
        assert "offload_beats_running 1.0" in admin_client.get("/metrics").content.decode()
    assert not Notification.objects.filter(alert_key="ops:several-beats", resolved_at=None).exists()
    assert (
        'id="several-beats"' not in admin_client.get("/admin/jobs/job/dashboard/").content.decode()
    )


@pytest.mark.django_db(transaction=True)
def test_a_beat_killed_and_started_again_is_one_beat(platform_staff):
    with running_beat(extra_env=QUIET_BEAT) as killed:
        wait_for(lambda: _beats_ticking_pids() == {killed.pid}, message="the beat's tick")
        # No stop recorded: its last tick stays recent for a while.
        worker_stop(killed, sig=signal.SIGKILL)
    with running_beat(extra_env=QUIET_BEAT) as restarted:
        wait_for(lambda: BeatSeen.objects.filter(pid=restarted.pid).exists(), message="its tick")
        assert BeatSeen.objects.get(pid=killed.pid).stopped_at is None
        assert _beats_ticking_pids() == {restarted.pid}
        assert "several-beats" not in ops_health_check()["findings"]
    assert not Notification.objects.filter(alert_key="ops:several-beats").exists()


def test_a_beat_started_again_with_the_process_id_of_one_stopped_is_seen(db):
    """PID 1 of a container restarted: the same host and process id as the beat before it."""
    long_ago = timezone.now() - timedelta(hours=2)
    BeatSeen.objects.create(
        hostname=socket.gethostname(),
        pid=os.getpid(),
        started_at=long_ago,
        last_seen_at=long_ago,
        stopped_at=long_ago,
    )
    beat_seen_start(socket.gethostname())
    (beat,) = beats_ticking()
    assert (beat.pid, beat.stopped_at) == (os.getpid(), None)
    assert beat.started_at > long_ago


@contextlib.contextmanager
def _redis_out_of_reach(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    yield


@contextlib.contextmanager
def _database_out_of_reach(settings):
    from django.db import OperationalError, connection

    def refused(execute, sql, params, many, context):
        raise OperationalError("connection refused")

    with connection.execute_wrapper(refused):
        yield


@pytest.mark.parametrize(
    ("outage", "gone", "left_out", "kept"),
    [
        (
            _redis_out_of_reach,
            "offload_shared_metrics_up",
            "offload_jobs_submitted_total",
            'offload_queue_pending{queue="normal"} 1.0',
        ),
        (
            _database_out_of_reach,
            "offload_database_gauges_up",
            "offload_queue_pending",
            'offload_jobs_submitted_total{type="diagnostic"} 1.0',
        ),
    ],
)
def test_metrics_with_redis_or_the_database_out_of_reach_still_show_the_rest(
    api_client, client, settings, outage, gone, left_out, kept
):
    api_client.post("/api/v1/jobs", {"type": "diagnostic", "payload": {}}, format="json")
    assert f"{gone} 1.0" in client.get("/metrics").content.decode()

    with outage(settings):
        response = client.get("/metrics")

    body = response.content.decode()
    assert response.status_code == 200
    assert f"{gone} 0.0" in body
    assert left_out not in body
    assert kept in body


def test_a_scheduled_run_that_cannot_take_its_lock_is_recorded_as_failed(settings, db):
    import redis

    from jobs.runs import scheduled_run

    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    with pytest.raises(redis.ConnectionError):
        scheduled_run("jobs_sweep", lambda: {"published": 0}, lock_ttl=60)

    run = TaskRun.objects.get(name="jobs_sweep")
    assert run.outcome == TaskRun.Outcome.FAILED and run.finished_at is not None
    assert "ConnectionError" in run.error


def test_a_run_left_running_by_a_killed_process_is_recorded_as_lost_by_the_next_run(db):
    from jobs.runs import LOST_RUN_ERROR, scheduled_run

    killed = _run("jobs_sweep", TaskRun.Outcome.RUNNING, ago=timedelta(minutes=3))
    TaskRun.objects.filter(pk=killed.pk).update(finished_at=None)
    elsewhere = _run("jobs_purge", TaskRun.Outcome.RUNNING)

    scheduled_run("jobs_sweep", lambda: {"published": 0}, lock_ttl=60)

    killed.refresh_from_db()
    assert killed.outcome == TaskRun.Outcome.FAILED and killed.error == LOST_RUN_ERROR
    assert killed.finished_at is None
    assert TaskRun.objects.filter(name="jobs_sweep").first().outcome == TaskRun.Outcome.OK
    elsewhere.refresh_from_db()
    assert elsewhere.outcome == TaskRun.Outcome.RUNNING


def test_a_run_skipped_for_the_lock_leaves_the_running_one_alone(db):
    from core.locks import named_lock
    from jobs.runs import scheduled_run

    with named_lock("jobs_sweep", ttl=60) as acquired:
        assert acquired
        running = _run("jobs_sweep", TaskRun.Outcome.RUNNING)
        scheduled_run("jobs_sweep", lambda: {"published": 0}, lock_ttl=60)

    running.refresh_from_db()
    assert running.outcome == TaskRun.Outcome.RUNNING
    assert TaskRun.objects.filter(name="jobs_sweep").first().outcome == TaskRun.Outcome.SKIPPED


def test_platform_alerts_reach_the_addresses_as_written_in_the_setting(settings, db):
    from accounts.services import notify_admins

    ops = UserFactory(username="ops", email="ops@example.com", is_staff=True)
    boss = UserFactory(username="boss", email="boss@example.com", is_staff=True)
    UserFactory(username="other", email="other@example.com", is_staff=True)
    UserFactory(username="intern", email="", is_staff=True)
    # As django-environ reads "ops@example.com, Boss@Example.com, " (a trailing comma).
    settings.PLATFORM_ALERT_EMAILS = ["ops@example.com", " Boss@Example.com", " "]

    notify_admins(tenant=None, kind="ops", title="Disk full", alert_key="ops:disk")

    assert set(Notification.objects.values_list("user", flat=True)) == {ops.pk, boss.pk}


def test_a_platform_alert_that_reaches_no_one_says_so_in_the_log(settings, db, caplog):
    from accounts.services import notify_admins

    UserFactory(username="ops", email="ops@example.com", is_staff=True)
    settings.PLATFORM_ALERT_EMAILS = ["opps@example.com"]

    notify_admins(tenant=None, kind="ops", title="Disk full", alert_key="ops:disk")

    assert not Notification.objects.exists()
    (record,) = [r for r in caplog.records if "reached no one" in r.getMessage()]
    assert record.levelname == "ERROR" and "PLATFORM_ALERT_EMAILS" in record.getMessage()


def test_platform_alert_emails_of_blanks_alone_mean_every_superuser(settings, db):
    from accounts.services import notify_admins

    root = UserFactory(username="root", email="root@example.com", is_staff=True, is_superuser=True)
    UserFactory(username="intern", email="", is_staff=True)
    settings.PLATFORM_ALERT_EMAILS = [" "]

    notify_admins(tenant=None, kind="ops", title="Disk full", alert_key="ops:disk")

    assert list(Notification.objects.values_list("user", flat=True)) == [root.pk]
