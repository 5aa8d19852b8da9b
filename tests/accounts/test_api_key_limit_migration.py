"""accounts 0010: a key's limit of 0 meant "the default" before 0 stopped a key's submissions; keys
stored with 0 keep the default."""

import pytest
from django.core.management import call_command

from accounts.models import ApiKey
from tests.factories import TenantFactory, api_key_for


@pytest.mark.django_db(transaction=True)
def test_a_key_stored_with_a_limit_of_0_keeps_submitting_under_the_default():
    tenant = TenantFactory()
    api_key_for(tenant, name="zero", rate_limit_per_minute=0, rate_limit_per_day=0)
    api_key_for(tenant, name="own", rate_limit_per_minute=5, rate_limit_per_day=0)
    try:
        call_command("migrate", "accounts", "0009", verbosity=0)
        call_command("migrate", "accounts", "0010", verbosity=0)
    finally:
        call_command("migrate", "accounts", verbosity=0)
    limits = dict(
        (name, (per_minute, per_day))
        for name, per_minute, per_day in ApiKey.objects.values_list(
            "name", "rate_limit_per_minute", "rate_limit_per_day"
        )
    )
    assert limits == {"zero": (None, None), "own": (5, None)}
