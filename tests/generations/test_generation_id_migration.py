"""generations 0005: decks and skill trees made before they kept their generation's id are found
by it (`?job=`) as new ones are, while their job is still kept."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from jobs.models import Job

BEFORE = ("generations", "0004_story_generation_id")


@pytest.fixture
def generations_at_0004():
    call_command("migrate", *BEFORE, verbosity=0)
    yield MigrationExecutor(connection).loader.project_state(BEFORE).apps
    call_command("migrate", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_decks_and_trees_made_before_are_found_by_their_job(
    generations_at_0004, api_client, tenant
):
    job = Job.objects.create(tenant=tenant, type="deck_generation")
    made = {}
    for model, collection, fields in [
        ("Deck", "decks", {"title": "Tides"}),
        ("SkillTree", "skill-trees", {"name": "Tides"}),
    ]:
        rows = generations_at_0004.get_model("generations", model).objects
        made[collection] = rows.create(tenant_id=tenant.pk, job_id=job.pk, **fields).pk
        rows.create(tenant_id=tenant.pk, **fields)

    call_command("migrate", verbosity=0)

    for collection, pk in made.items():
        listed = api_client.get(f"/api/v1/{collection}?job={job.pk}").json()["results"]
        assert [row["id"] for row in listed] == [pk]
