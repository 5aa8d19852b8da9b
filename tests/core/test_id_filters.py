"""Every list filter that names an object by its id answers alike: an id it cannot read is a 400
in the same words, and a well-formed id of nothing the caller can see, another workspace's
included, an empty list."""

import uuid

import pytest

from accounts.models import CreditEntry
from budgets.models import BudgetAlert
from generations.models import Deck, Flashcard, GeneratedImage, SkillTree, Story
from tests.budgets.factories import ProjectFactory, hours, material
from tests.invoices.factories import ClientFactory, InvoiceFactory
from tests.jobs.factories import JobFactory


def _alert(tenant):
    project = ProjectFactory(tenant=tenant)
    alert = BudgetAlert.objects.create(
        tenant=tenant, project=project, type="hours", threshold=80, current_percentage=90
    )
    return project.pk, alert.pk


def _invoice_of_project(tenant):
    project = ProjectFactory(tenant=tenant)
    return project.pk, InvoiceFactory(tenant=tenant, project=project).pk


def _invoice_of_client(tenant):
    client = ClientFactory(tenant=tenant)
    return client.pk, InvoiceFactory(tenant=tenant, client=client).pk


def _credit_entry(tenant):
    job = JobFactory(tenant=tenant)
    entry = CreditEntry.objects.create(
        tenant=tenant, kind=CreditEntry.Kind.DEBIT, amount=-1, balance_after=99, job=job
    )
    return job.pk, entry.pk


def _artifact(model, **fields):
    def make(tenant):
        generation = uuid.uuid4()
        return generation, model.objects.create(
            tenant=tenant, generation_id=generation, **fields
        ).pk

    return make


def _entry(record):
    def make(tenant):
        project = ProjectFactory(tenant=tenant)
        return project.pk, record(project, 1).pk

    return make


# Each list, the filter, and what makes one row of it in a workspace: (the id filtered by, the row).
ID_FILTERS = [
    ("time-entries", "project", _entry(hours)),
    ("material-entries", "project", _entry(material)),
    ("budget-alerts", "project", _alert),
    ("invoices", "project", _invoice_of_project),
    ("invoices", "client", _invoice_of_client),
    ("credit-entries", "job", _credit_entry),
    ("decks", "job", _artifact(Deck, title="Roadmap")),
    ("stories", "job", _artifact(Story, title="Fox")),
    ("skill-trees", "job", _artifact(SkillTree, name="Algebra")),
    ("images", "job", _artifact(GeneratedImage, prompt="fox", width=8, height=8)),
    ("flashcards", "job", _artifact(Flashcard, question="2+2?", answer="4")),
]

# Not ids: Python's int() would read the next four as 1, 1, 1 and 10.
NOT_WHOLE_NUMBER_IDS = ["first", "", "0", "-1", "+1", " 1", "1.0", "1_0", "²", "9" * 1001]
NOT_JOB_IDS = ["first", "", "0", "-1", "1", str(uuid.uuid4())[:-1]]


@pytest.mark.parametrize(
    ("url", "name", "make"),
    [pytest.param(*case, id=f"{case[0]}?{case[1]}=") for case in ID_FILTERS],
)
def test_every_list_filter_by_id_answers_alike(api_client, tenant, other_tenant, url, name, make):
    mine, row = make(tenant)
    theirs, _ = make(other_tenant)
    if name == "job":
        unknown, malformed = [uuid.uuid4()], NOT_JOB_IDS
    else:
        unknown, malformed = [2_000_000_000, 99_999_999_999_999_999_999], NOT_WHOLE_NUMBER_IDS

    found = api_client.get(f"/api/v1/{url}", {name: str(mine)})
    assert (found.status_code, [item["id"] for item in found.json()["results"]]) == (200, [row])
    # Another workspace's id is one of nothing the caller can see, as an unknown one is.
    for nothing in (theirs, *unknown):
        response = api_client.get(f"/api/v1/{url}", {name: str(nothing)})
        assert (response.status_code, response.json()["results"]) == (200, []), nothing
    for value in malformed:
        response = api_client.get(f"/api/v1/{url}", {name: value})
        assert response.status_code == 400, value
        assert response.json()["errors"] == {name: [f"Must be a {name} id."]}, value
