import socket

import pytest
from django.contrib.auth import get_user_model

from accounts.models import Notification
from accounts.services import Alert, notify_admins, notify_admins_of_new_alerts

pytestmark = pytest.mark.django_db(transaction=True)  # the emails go out on commit


def test_a_title_with_line_breaks_is_notified_and_emailed_on_one_line(
    tenant, tenant_admin, mailoutbox
):
    notify_admins(tenant=tenant, kind="test", title="Invoice\r\n2026-01\tfailed\x0b ")

    assert Notification.objects.get(user=tenant_admin).title == "Invoice 2026-01 failed"
    assert [email.subject for email in mailoutbox] == ["[Offload] Invoice 2026-01 failed"]


def test_a_title_longer_than_its_column_is_shortened_to_fit(tenant, tenant_admin, mailoutbox):
    notify_admins_of_new_alerts(
        tenant=tenant,
        kind="test",
        alerts=[Alert(title="x" * 300, alert_key="long"), Alert(title="a\nb", alert_key="short")],
    )

    titles = dict(Notification.objects.filter(user=tenant_admin).values_list("alert_key", "title"))
    assert titles == {"long": "x" * 254 + "…", "short": "a b"}
    assert mailoutbox[0].subject == "[Offload] 2 new alerts"
    assert mailoutbox[0].body.splitlines() == ["x" * 254 + "…", "a b"]


def test_each_admin_is_emailed_on_their_own(tenant, tenant_admin, mailoutbox):
    from tests.factories import MembershipFactory, UserFactory

    other = MembershipFactory(tenant=tenant, user=UserFactory(username="bob@example.com")).user

    notify_admins(tenant=tenant, kind="test", title="Storage full")

    assert sorted(email.to for email in mailoutbox) == sorted([[tenant_admin.email], [other.email]])
    assert all(not email.cc and not email.bcc for email in mailoutbox)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_mail_server_that_cannot_be_reached_is_logged_and_the_notification_stays(
    tenant, tenant_admin, settings, caplog
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", _closed_port()
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5

    notify_admins(tenant=tenant, kind="test", title="Storage full")

    assert Notification.objects.get(user=tenant_admin).title == "Storage full"
    assert "Could not email the alert '[Offload] Storage full' to 1 admins." in caplog.text


def test_an_admin_of_two_workspaces_hears_of_an_alert_open_in_one_from_the_other(mailoutbox):
    from accounts.services import notification_resolve, tenant_create
    from invoices.services import STORAGE_FULL_ALERT_KEY

    # One person (an agency) administers both workspaces: create_tenant reuses the address's user.
    alice = tenant_create(slug="alice", name="Alice", admin_email="ops@agency.test")
    bob = tenant_create(slug="bob", name="Bob", admin_email="ops@agency.test")
    alert = {"kind": "storage_full", "title": "Storage full", "alert_key": STORAGE_FULL_ALERT_KEY}
    # And is the platform's staff too.
    get_user_model().objects.filter(email="ops@agency.test").update(
        is_staff=True, is_superuser=True
    )

    assert len(notify_admins(tenant=alice, **alert)) == 1
    assert len(notify_admins(tenant=bob, **alert)) == 1
    # Still open in each: neither is told again, nor are the platform staff kept from theirs.
    assert notify_admins(tenant=alice, **alert) == notify_admins(tenant=bob, **alert) == []
    assert len(notify_admins(tenant=None, **alert)) == 1
    assert notify_admins(tenant=None, **alert) == []
    assert len(mailoutbox) == 3

    notification_resolve(tenant=alice, alert_key=STORAGE_FULL_ALERT_KEY)
    assert len(notify_admins(tenant=alice, **alert)) == 1
    assert notify_admins(tenant=bob, **alert) == []
