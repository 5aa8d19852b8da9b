"""A tenant's row never points at another tenant's row, whatever the admin's raw id fields take."""

import pytest
from django.core.exceptions import ValidationError

from accounts.services import api_key_create
from generations.models import Deck
from sharelinks.models import PublicLink
from tests.jobs.factories import JobFactory


def test_an_artifact_of_another_workspaces_job_is_refused(tenant, other_tenant):
    deck = Deck(tenant=tenant, title="Deck", job=JobFactory(tenant=other_tenant))
    with pytest.raises(ValidationError) as refused:
        deck.full_clean()
    assert refused.value.message_dict == {"job": ["It belongs to another workspace."]}
    deck.job = JobFactory(tenant=tenant)
    deck.full_clean()


def test_a_link_created_by_another_workspaces_key_is_refused(tenant, other_tenant):
    their_key, _ = api_key_create(tenant=other_tenant)
    link = PublicLink(
        tenant=tenant,
        resource_type="deck",
        resource_id="1",
        token_hash="0" * 64,
        token_prefix="abcd",
        created_by_key=their_key,
    )
    with pytest.raises(ValidationError) as refused:
        link.full_clean()
    assert list(refused.value.message_dict) == ["created_by_key"]
