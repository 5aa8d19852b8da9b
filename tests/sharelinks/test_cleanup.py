import threading
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import AuditEvent, Notification
from accounts.services import operator_at_command_line
from jobs.models import TaskRun
from sharelinks import services
from sharelinks.models import PublicLink, PublicLinkEvent
from sharelinks.services import share_links_cleanup
from tests.factories import UserFactory


def _links(tenant, count, **fields):
    links = [
        PublicLink(
            tenant=tenant,
            resource_type="deck",
            resource_id="1",
            token_hash=uuid.uuid4().hex,
            token_prefix="x",
            **fields,
        )
        for _ in range(count)
    ]
    return PublicLink.objects.bulk_create(links)


def test_expired_and_used_up_links_are_deactivated_and_audited(tenant):
    past = timezone.now() - timedelta(minutes=1)
    expired = _links(tenant, 5, expires_at=past)
    used_up = _links(tenant, 3, max_views=2, view_count=2)
    fine = _links(
        tenant, 2, expires_at=timezone.now() + timedelta(days=1), max_views=5, view_count=4
    )
    assert share_links_cleanup() == {"deactivated": 8, "cleaned_events": 0, "failed": 0}
    for link in expired + used_up:
        link.refresh_from_db()
        assert (link.is_active, link.deactivated_reason) == (False, "expired_or_max_views")
    assert all(PublicLink.objects.get(pk=link.pk).is_active for link in fine)
    events = AuditEvent.objects.filter(resource_type="sharelinks.publiclink", action="deactivate")
    assert events.count() == 8
    assert {(event.actor_type, event.actor_label) for event in events} == {
        ("worker", "share_link_cleanup")
    }
    assert {event.metadata["reason"] for event in events} == {"expired_or_max_views"}
    assert share_links_cleanup()["deactivated"] == 0


def test_view_events_older_than_ninety_days_are_deleted(tenant):
    (link,) = _links(tenant, 1)
    now = timezone.now()
    PublicLinkEvent.objects.bulk_create(
        [PublicLinkEvent(link=link, created_at=now - timedelta(days=91)) for _ in range(7)]
        + [PublicLinkEvent(link=link, created_at=now - timedelta(days=89)) for _ in range(2)]
    )
    assert share_links_cleanup(batch_size=2)["cleaned_events"] == 7
    assert PublicLinkEvent.objects.count() == 2


def test_links_are_handled_in_batches_of_a_hundred(tenant):
    _links(tenant, 250, expires_at=timezone.now() - timedelta(seconds=1))
    batches = []
    assert share_links_cleanup(on_batch=batches.append)["deactivated"] == 250
    assert batches == [100, 100, 50]


@pytest.mark.django_db(transaction=True)
def test_a_link_locked_by_a_view_is_skipped_then_deactivated_next_run(tenant):
    locked, free = _links(tenant, 2, expires_at=timezone.now() - timedelta(seconds=1))
    holding, release = threading.Event(), threading.Event()

    def view_in_progress():
        with transaction.atomic():
            list(PublicLink.objects.select_for_update().filter(pk=locked.pk))
            holding.set()
            release.wait(30)
        connection.close()

    thread = threading.Thread(target=view_in_progress)
    thread.start()
    holding.wait(10)
    try:
        started = timezone.now()
        assert share_links_cleanup()["deactivated"] == 1
        assert (timezone.now() - started).total_seconds() < 5
    finally:
        release.set()
        thread.join()
    assert PublicLink.objects.get(pk=locked.pk).is_active
    assert not PublicLink.objects.get(pk=free.pk).is_active
    assert share_links_cleanup()["deactivated"] == 1
    assert not PublicLink.objects.get(pk=locked.pk).is_active


def _failing_deactivation(monkeypatch, broken: set | None = None) -> None:
    """Deactivating a batch of links fails: every batch, or those holding one of `broken`."""
    real = services._deactivate

    def deactivate(links, now, audit):
        if broken is None or broken & {link.pk for link in links}:
            raise ValueError("corrupt row")
        return real(links, now, audit)

    monkeypatch.setattr(services, "_deactivate", deactivate)


def test_a_failing_link_is_skipped_and_the_run_goes_on(tenant, monkeypatch):
    links = _links(tenant, 5, expires_at=timezone.now() - timedelta(seconds=1))
    bad = links[2].pk
    _failing_deactivation(monkeypatch, broken={bad})
    assert share_links_cleanup() == {"deactivated": 4, "cleaned_events": 0, "failed": 1}
    assert PublicLink.objects.get(pk=bad).is_active


def test_more_than_a_hundred_failures_alert_the_platform_staff(tenant, monkeypatch):
    UserFactory(username="root@example.com", is_staff=True, is_superuser=True)
    _links(tenant, 101, expires_at=timezone.now() - timedelta(seconds=1))
    _failing_deactivation(monkeypatch)
    assert share_links_cleanup()["failed"] == 101
    assert Notification.objects.filter(kind="share_link_cleanup_failures", tenant=None).count() == 1


def test_failures_alert_again_after_a_run_that_failed_for_fewer_links(tenant, monkeypatch):
    staff = UserFactory(username="root@example.com", is_staff=True, is_superuser=True)
    links = _links(tenant, 101, expires_at=timezone.now() - timedelta(seconds=1))
    broken = {link.pk for link in links}
    _failing_deactivation(monkeypatch, broken=broken)
    share_links_cleanup()
    share_links_cleanup()
    alerts = Notification.objects.filter(user=staff, kind="share_link_cleanup_failures")
    assert alerts.count() == 1  # still open: not sent twice

    broken.clear()
    assert share_links_cleanup()["failed"] == 0
    assert alerts.get().resolved_at is not None

    broken.update(link.pk for link in _links(tenant, 101, max_views=1, view_count=1))
    assert share_links_cleanup()["failed"] == 101
    assert alerts.count() == 2


def test_a_cleanup_failing_for_many_links_is_one_alert_with_the_health_check(
    tenant, monkeypatch, mailoutbox, django_capture_on_commit_callbacks
):
    from jobs.models import WorkerSeen
    from jobs.monitoring import ops_health_check
    from sharelinks.tasks import share_link_cleanup

    staff = UserFactory(username="root@example.com", is_staff=True, is_superuser=True)
    WorkerSeen.objects.create(hostname="w1@host")
    _links(tenant, 101, expires_at=timezone.now() - timedelta(seconds=1))
    _failing_deactivation(monkeypatch)

    with django_capture_on_commit_callbacks(execute=True):
        share_link_cleanup()
        ops_health_check()  # five minutes later: the last run failed for 101 links

    assert Notification.objects.filter(user=staff, resolved_at=None).count() == 1
    assert len(mailoutbox) == 1


def test_a_run_skipped_for_the_lock_leaves_the_failures_alert_open(tenant, monkeypatch):
    from core.locks import named_lock
    from sharelinks.tasks import share_link_cleanup

    UserFactory(username="root@example.com", is_staff=True, is_superuser=True)
    _links(tenant, 101, expires_at=timezone.now() - timedelta(seconds=1))
    _failing_deactivation(monkeypatch)
    share_link_cleanup()
    with named_lock("share_link_cleanup", ttl=60):
        assert share_link_cleanup() == {}
    alert = Notification.objects.get(kind="share_link_cleanup_failures")
    assert alert.resolved_at is None


def test_the_command_runs_it_and_the_run_is_recorded(tenant):
    _links(tenant, 3, expires_at=timezone.now() - timedelta(seconds=1))
    out = StringIO()
    call_command("cleanup_share_links", stdout=out)
    assert "Links deactivated: 3," in out.getvalue()
    run = TaskRun.objects.get(name="share_link_cleanup")
    assert run.outcome == "ok" and run.counts == {
        "deactivated": 3,
        "cleaned_events": 0,
        "failed": 0,
    }
    # Run by hand, by an operator: the audit events say who, as every command's do.
    events = AuditEvent.objects.filter(resource_type="sharelinks.publiclink")
    assert {(event.actor_type, event.actor_label) for event in events} == {
        ("operator", str(operator_at_command_line()))
    }
    assert {tuple(event.changed_fields) for event in events} == {("is_active",)}
