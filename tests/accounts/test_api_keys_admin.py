"""API keys created in the admin."""

import html
import re
import zlib
from datetime import datetime, timedelta

from django.core import signing
from django.utils import timezone

from accounts.models import ApiKey, AuditEvent, api_key_hash
from accounts.services import api_key_create


def test_a_key_created_in_the_admin_is_audited_with_the_staff_user(
    admin_client, admin_user, tenant
):
    response = admin_client.post(
        "/admin/accounts/apikey/add/",
        {"tenant": tenant.pk, "name": "from admin", "role": "member", "expires_in_days": "30"},
    )
    assert response.status_code == 200
    api_key = ApiKey.objects.get(name="from admin")
    assert api_key.created_by == admin_user
    event = AuditEvent.objects.get(resource_type="accounts.apikey", resource_id=str(api_key.pk))
    assert (event.tenant, event.action) == (tenant, "create")
    assert (event.actor_type, event.actor_id) == ("user", str(admin_user.pk))
    assert event.new_values["expires_at"] == api_key.expires_at.isoformat()


def test_a_key_created_in_the_admin_is_shown_on_its_page_and_kept_in_no_cookie(
    admin_client, tenant
):
    response = admin_client.post(
        "/admin/accounts/apikey/add/", {"tenant": tenant.pk, "name": "from admin", "role": "member"}
    )
    # A message would carry the key to the next page in a cookie (signed, not encrypted).
    for morsel in response.cookies.values():
        assert "ofl_" not in _cookie_text(morsel.value), morsel.key
    assert response.status_code == 200
    plaintext = re.search(r'<code id="new-api-key">([^<]+)</code>', response.content.decode())[1]
    api_key = ApiKey.objects.get(name="from admin")
    assert api_key.key_hash == api_key_hash(plaintext)
    assert "no-store" in response["Cache-Control"]
    next_page = admin_client.get("/admin/accounts/apikey/").content.decode()
    assert plaintext not in next_page


def test_save_and_add_another_shows_the_new_key_then_leads_to_a_new_form(admin_client, tenant):
    response = admin_client.post(
        "/admin/accounts/apikey/add/",
        {"tenant": tenant.pk, "name": "first of two", "role": "member", "_addanother": "1"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    plaintext = re.search(r'<code id="new-api-key">([^<]+)</code>', page)[1]
    assert ApiKey.objects.get(name="first of two").key_hash == api_key_hash(plaintext)
    assert '<a href="/admin/accounts/apikey/add/">Add another API key</a>' in page
    assert admin_client.get("/admin/accounts/apikey/add/").status_code == 200


def _cookie_text(value: str) -> str:
    """A cookie as Django's signing writes it, readable: a leading dot means compressed."""
    payload = value.split(":", 1)[0]
    if not payload.startswith("."):
        return value
    return zlib.decompress(signing.b64_decode(payload[1:].encode())).decode()


def test_a_keys_page_links_to_what_it_did(admin_client, tenant):
    from jobs.models import Job
    from jobs.services import job_submit
    from sharelinks.models import PublicLink
    from tests.factories import api_key_for

    key = api_key_for(tenant, name="leaked")
    api_key = ApiKey.objects.get(name="leaked")
    job_submit(tenant=tenant, type="diagnostic", payload={}, api_key=api_key)
    job_submit(tenant=tenant, type="diagnostic", payload={})
    page = admin_client.get(f"/admin/accounts/apikey/{api_key.pk}/change/").content.decode()
    links = re.findall(
        r'<a href="([^"]+)">(jobs it submitted|share links it created|its audit'
        r" events)</a>",
        page,
    )
    assert [label for _, label in links] == [
        "jobs it submitted",
        "share links it created",
        "its audit events",
    ]
    jobs = admin_client.get(html.unescape(links[0][0]))
    assert [job.pk for job in jobs.context["cl"].result_list] == [
        Job.objects.get(api_key=api_key).pk
    ]
    for url, _ in links[1:]:
        assert admin_client.get(html.unescape(url)).status_code == 200
    assert key not in page and not PublicLink.objects.exists()


def _key_expiry_set(admin_client, api_key, expires_at):
    return admin_client.post(
        f"/admin/accounts/apikey/{api_key.pk}/change/",
        {
            "tenant": api_key.tenant_id,
            "name": api_key.name,
            "role": api_key.role,
            "expires_at_0": expires_at.strftime("%Y-%m-%d"),
            "expires_at_1": expires_at.strftime("%H:%M:%S"),
            "rate_limit_per_minute": "",
            "rate_limit_per_day": "",
        },
    )


def test_a_keys_expiry_moved_in_the_admin_is_held_to_a_new_keys_horizon(admin_client, tenant):
    api_key, _ = api_key_create(tenant=tenant, name="ci")

    refused = _key_expiry_set(admin_client, api_key, datetime(9999, 12, 31, 23, 59, 59))
    moved = _key_expiry_set(admin_client, api_key, timezone.now() + timedelta(days=3640))

    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["expires_at"] == ["At most 3650 days from now."]
    assert moved.status_code == 302
    api_key.refresh_from_db()
    assert timezone.now() + timedelta(days=3639) < api_key.expires_at


def test_a_pasted_key_finds_its_row_and_the_prefix_still_does(admin_client, tenant):
    leaked, plaintext = api_key_create(tenant=tenant, name="leaked")
    api_key_create(tenant=tenant, name="other")

    def found(pasted: str) -> list[int]:
        response = admin_client.get("/admin/accounts/apikey/", {"q": pasted})
        assert response.status_code == 200
        return [api_key.pk for api_key in response.context["cl"].result_list]

    assert found(f"  {plaintext}\n") == [leaked.pk]
    assert found(leaked.prefix) == [leaked.pk]
    # As the logs show it: the scheme, the prefix, the rest redacted.
    assert found(f"ofl_{leaked.prefix}") == [leaked.pk]
    assert found(f"{plaintext}x") == []
    page = admin_client.get("/admin/accounts/apikey/").content.decode()
    assert "A key pasted whole (ofl_…), or its prefix" in page
