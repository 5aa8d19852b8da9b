import socket

import pytest

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
