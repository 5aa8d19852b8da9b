"""Distractors: the choices of a card, on its page and in the API."""

import re

from generations.models import Flashcard
from jobs.services import job_execute


def _generate(api_client, body) -> dict:
    response = api_client.post("/api/v1/generations", body, format="json")
    assert response.status_code == 202, response.json()
    job_execute(job_id=response.json()["id"])
    job = api_client.get(f"/api/v1/generations/{response.json()['id']}").json()
    assert job["status"] == "completed", job
    return job


def _choices(client, settings, job) -> list[str]:
    page = client.get(job["view_url"].removeprefix(settings.PUBLIC_BASE_URL))
    assert page.status_code == 200
    choices = re.search(r'<ol class="choices">(.*?)</ol>', page.content.decode(), re.S).group(1)
    return re.findall(r"<li>(.*?)</li>", choices)


def test_generating_distractors_again_replaces_the_cards_choices(api_client, client, settings):
    _generate(
        api_client,
        {
            "kind": "flashcards",
            "text": "Ribosomes build proteins in every living cell.",
            "count": 1,
        },
    )
    card = Flashcard.objects.get()
    _generate(api_client, {"kind": "distractors", "flashcard_id": card.pk, "count": 2})
    again = _generate(api_client, {"kind": "distractors", "flashcard_id": card.pk, "count": 3})

    assert len(again["result"]["distractors"]) == 3
    listed = api_client.get("/api/v1/flashcards").json()["results"]
    assert [c["distractors"] for c in listed] == [again["result"]["distractors"]]
    choices = _choices(client, settings, again)
    assert sorted(choices) == sorted([card.answer, *again["result"]["distractors"]])
