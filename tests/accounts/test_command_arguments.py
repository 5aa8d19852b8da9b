"""The accounts commands refuse bad arguments with a message, never a traceback or a bad row."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts.models import ApiKey, CreditEntry, Tenant


def _call(*args):
    call_command(*args, stdout=StringIO(), stderr=StringIO())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad slug!", "--name", "X"], "'bad slug!': Enter a valid “slug”"),
        (["x" * 65], "at most 64 characters"),
        (["acme", "--name", "n" * 201], "at most 200 characters"),
        (["acme", "--admin-email", "notanemail"], "'notanemail': Enter a valid email address."),
    ],
)
def test_create_tenant_refuses_a_bad_slug_name_or_email(db, args, message):
    with pytest.raises(CommandError, match=message):
        _call("create_tenant", *args)
    assert not Tenant.objects.exists() and not get_user_model().objects.exists()


def test_create_api_key_refuses_an_expiry_past_ten_years(tenant):
    with pytest.raises(CommandError, match="from 1 to 3650 days"):
        _call("create_api_key", "--tenant", tenant.slug, "--expires-in", "99999999")
    assert not ApiKey.objects.exists()


def test_grant_credits_refuses_a_balance_the_ledger_cannot_hold(tenant):
    with pytest.raises(CommandError, match="A balance above 2,147,483,647 credits"):
        _call("grant_credits", tenant.slug, "99999999999999999999")
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100
    assert not CreditEntry.objects.exists()
    _call("grant_credits", tenant.slug, str(2_147_483_647 - 100))
    tenant.refresh_from_db()
    assert tenant.credit_balance == 2_147_483_647
