"""API keys created in the admin."""

from accounts.models import ApiKey, AuditEvent


def test_a_key_created_in_the_admin_is_audited_with_the_staff_user(
    admin_client, admin_user, tenant
):
    response = admin_client.post(
        "/admin/accounts/apikey/add/",
        {"tenant": tenant.pk, "name": "from admin", "role": "member", "expires_in_days": "30"},
    )
    assert response.status_code == 302
    api_key = ApiKey.objects.get(name="from admin")
    assert api_key.created_by == admin_user
    event = AuditEvent.objects.get(resource_type="accounts.apikey", resource_id=str(api_key.pk))
    assert (event.tenant, event.action) == (tenant, "create")
    assert (event.actor_type, event.actor_id) == ("user", str(admin_user.pk))
    assert event.new_values["expires_at"] == api_key.expires_at.isoformat()
