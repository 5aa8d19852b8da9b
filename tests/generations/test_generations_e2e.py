"""Every kind of generation end to end: the API, a real worker, the offline provider, the artifacts."""

import io

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from generations.models import (
    Deck,
    Distractor,
    Flashcard,
    GeneratedImage,
    SkillNode,
    SkillTree,
    Story,
)
from jobs.models import Job
from tests.worker import running_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

NOTES = """# Photosynthesis
Photosynthesis is the process plants use to turn light into chemical energy. It happens in chloroplasts.
- Light reactions
  - Photolysis of water
- Calvin cycle
# Respiration
Respiration releases energy from glucose. Mitochondria are the powerhouse of the cell.
"""


def _submit(client, kind, **body):
    response = client.post("/api/v1/generations", {"kind": kind, **body}, format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["kind"] == kind
    return response.json()["id"]


def _done(client, job_id):
    wait_for(
        lambda: Job.objects.get(pk=job_id).is_finished, timeout=90, message=f"generation {job_id}"
    )
    body = client.get(f"/api/v1/generations/{job_id}").json()
    assert body.get("status") == "completed", body
    return body


def test_every_kind_through_a_real_worker(api_client, client, settings):
    settings.RATE_LIMIT_PER_MINUTE = 100
    with running_worker(concurrency=2):
        deck = _submit(api_client, "deck", text=NOTES, title="Biology")
        cards = _submit(api_client, "flashcards", text=NOTES, count=5)
        tree = _submit(api_client, "skill_tree", text=NOTES)
        story = _submit(
            api_client,
            "story",
            prompt="a lighthouse keeper finds a map",
            characters=["Ingrid", "Ola"],
            setting="Lofoten",
            length=120,
        )
        image = _submit(
            api_client, "image", prompt="a red fox in snow", width=160, height=96, count=2
        )
        results = {
            name: _done(api_client, job_id)
            for name, job_id in {
                "deck": deck,
                "cards": cards,
                "tree": tree,
                "story": story,
                "image": image,
            }.items()
        }
        card_id = results["cards"]["result"]["flashcardIds"][0]
        distractors = _submit(api_client, "distractors", flashcard_id=card_id, count=3)
        edit = _submit(
            api_client,
            "image_edit",
            prompt="make it grayscale",
            source_image_id=results["image"]["result"]["imageIds"][0],
        )
        results["distractors"] = _done(api_client, distractors)
        results["edit"] = _done(api_client, edit)

    deck_row = Deck.objects.get(pk=results["deck"]["result"]["deckId"])
    assert deck_row.title == "Biology"
    assert results["deck"]["result"]["slideCount"] == deck_row.slides.count() == 2
    assert all(slide.title and slide.blocks.exists() for slide in deck_row.slides.all())
    api_deck = api_client.get(f"/api/v1/decks/{deck_row.pk}").json()
    assert api_deck["slides"][0]["blocks"][1] == {
        "kind": "bullets",
        "items": ["Light reactions", "Photolysis of water", "Calvin cycle"],
    }

    assert results["cards"]["result"]["count"] == 5
    listed = api_client.get(f"/api/v1/flashcards?job={cards}").json()["results"]
    assert len(listed) == 5 and all(card["question"] and card["answer"] for card in listed)

    tree_row = SkillTree.objects.get(pk=results["tree"]["result"]["treeId"])
    assert results["tree"]["result"]["depth"] >= 2
    assert (
        SkillNode.objects.filter(tree=tree_row).count()
        == results["tree"]["result"]["nodeCount"]
        >= 5
    )
    assert api_client.get(f"/api/v1/skill-trees/{tree_row.pk}").json()["tree"][0]["children"]

    story_row = Story.objects.get(pk=results["story"]["result"]["storyId"])
    assert story_row.status == "ready" and "Ingrid" in story_row.text and story_row.words >= 100
    assert story_row.title == "A lighthouse keeper finds a map"
    assert results["story"]["result"]["generationTime"] >= 0

    for image_id in results["image"]["result"]["imageIds"] + results["edit"]["result"]["imageIds"]:
        image = GeneratedImage.objects.get(pk=image_id)
        with default_storage.open(image.file.name) as handle:
            picture = Image.open(io.BytesIO(handle.read()))
            assert picture.size == (160, 96)
    edited = GeneratedImage.objects.get(pk=results["edit"]["result"]["imageIds"][0])
    assert (
        edited.kind == "edit"
        and edited.source_image_id == results["image"]["result"]["imageIds"][0]
    )

    wrong = results["distractors"]["result"]["distractors"]
    assert len(wrong) == 3 and Flashcard.objects.get(pk=card_id).answer not in wrong
    assert Distractor.objects.filter(flashcard_id=card_id).count() == 3

    for name in ("deck", "cards", "tree", "story", "image", "distractors"):
        page = client.get(results[name]["view_url"].removeprefix(settings.PUBLIC_BASE_URL))
        assert page.status_code == 200, name
        assert page["Referrer-Policy"] == "no-referrer"
    image_page = client.get(
        results["image"]["view_url"].removeprefix(settings.PUBLIC_BASE_URL)
    ).content.decode()
    file_path = image_page.split('src="')[1].split('"')[0]
    assert client.get(file_path)["Content-Type"] == "image/png"
