"""Distractors: the multiple-choice page of a card and the choices the API lists."""

import re

from generations.models import Flashcard
from jobs.services import job_execute

CELLS = (
    "Ribosomes build proteins. Chloroplasts capture sunlight. Nuclei store genomes. "
    "Lysosomes digest waste. Vacuoles store water. Centrioles organise spindles."
)


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
    return re.findall(r'<li dir="auto">(.*?)</li>', choices)


def test_the_answer_is_not_always_the_first_choice(api_client, client, settings):
    _generate(api_client, {"kind": "flashcards", "text": CELLS, "count": 6})
    places = []
    for card in Flashcard.objects.order_by("pk"):
        job = _generate(api_client, {"kind": "distractors", "flashcard_id": card.pk})
        choices = _choices(client, settings, job)
        assert sorted(choices) == sorted([card.answer, *job["result"]["distractors"]])
        places.append(choices.index(card.answer))
    assert len(set(places)) > 1, places


def test_a_cards_choices_keep_their_order_from_one_visit_to_the_next(api_client, client, settings):
    _generate(api_client, {"kind": "flashcards", "text": CELLS, "count": 1})
    job = _generate(api_client, {"kind": "distractors", "flashcard_id": Flashcard.objects.get().pk})
    assert _choices(client, settings, job) == _choices(client, settings, job)


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


def test_a_poll_while_the_model_writes_the_wrong_answers_says_so(api_client, monkeypatch):
    from generations import services

    _generate(api_client, {"kind": "flashcards", "text": CELLS, "count": 1})
    polled = []
    provider = services.provider_get()

    class Watched:
        def generate(self, kind, data):
            polled.append(api_client.get(f"/api/v1/generations/{job_id}").json())
            return provider.generate(kind, data)

    monkeypatch.setattr(services, "provider_get", Watched)
    submitted = api_client.post(
        "/api/v1/generations",
        {"kind": "distractors", "flashcard_id": Flashcard.objects.get().pk},
        format="json",
    )
    job_id = submitted.json()["id"]
    job_execute(job_id=job_id)

    assert [(job["status"], job["progress"], job["message"]) for job in polled] == [
        ("processing", 10, "writing the wrong answers")
    ]
