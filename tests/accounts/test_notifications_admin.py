"""Notifications in the admin: the alerts raise and resolve them, staff read them and mark their own
as read."""

from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages

from accounts.models import AuditEvent, Notification
from accounts.services import notify_admins

NOTIFICATIONS = "/admin/accounts/notification/"


def test_a_notification_is_neither_changed_nor_added_in_the_admin_and_goes_with_its_recipient(
    admin_client, tenant, other_tenant, tenant_admin
):
    [notification] = notify_admins(
        tenant=tenant, kind="storage_full", title="Storage full", alert_key="storage"
    )
    page = f"{NOTIFICATIONS}{notification.pk}/change/"

    opened = admin_client.get(page)
    assert opened.status_code == 200
    assert "Storage full" in opened.content.decode()
    assert set(opened.context["adminform"].form.fields) == set()
    moved = admin_client.post(
        page,
        {
            "tenant": other_tenant.pk,
            "user": tenant_admin.pk,
            "kind": "budget_alert",
            "alert_key": "other",
            "title": "Budget crossed",
            "payload": '{"forged": true}',
            "resolved_at_0": "2026-01-01",
            "resolved_at_1": "00:00:00",
        },
    )
    assert moved.status_code == 403
    notification.refresh_from_db()
    assert (notification.tenant_id, notification.kind, notification.title) == (
        tenant.pk,
        "storage_full",
        "Storage full",
    )
    assert (notification.payload, notification.resolved_at) == ({}, None)

    assert admin_client.get(f"{NOTIFICATIONS}add/").status_code == 403
    added = admin_client.post(
        f"{NOTIFICATIONS}add/",
        {"tenant": tenant.pk, "user": tenant_admin.pk, "kind": "ops", "title": "Forged"},
    )
    assert added.status_code == 403
    assert list(Notification.objects.values_list("pk", flat=True)) == [notification.pk]
    assert not AuditEvent.objects.filter(resource_type="accounts.notification").exists()

    # They go with their recipient, whom staff still delete.
    recipient = f"/admin/auth/user/{tenant_admin.pk}/delete/"
    assert "Notification: " in admin_client.get(recipient).content.decode()
    assert admin_client.post(recipient, {"post": "yes"}).status_code == 302
    assert not get_user_model().objects.filter(pk=tenant_admin.pk).exists()
    assert not Notification.objects.exists()


def test_staff_mark_their_own_notifications_read_and_no_one_elses(
    admin_client, admin_user, tenant, tenant_admin
):
    [theirs] = notify_admins(tenant=tenant, kind="storage_full", title="Storage full")
    [mine] = notify_admins(tenant=None, kind="ops", title="Workers down")

    response = admin_client.post(
        NOTIFICATIONS,
        {"action": "mark_read", "_selected_action": [theirs.pk, mine.pk]},
        follow=True,
    )

    assert [str(message) for message in get_messages(response.wsgi_request)] == [
        "Marked 1 notification as read. 1 is for someone else: only its recipient marks it read."
    ]
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.read_at is not None and theirs.read_at is None
    assert mine.user == admin_user
