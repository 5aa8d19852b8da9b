"""What the offline provider makes of a text, as a user reads it back through the API."""

from generations.models import Flashcard
from jobs.services import job_execute


def _generate(api_client, body) -> dict:
    response = api_client.post("/api/v1/generations", body, format="json")
    assert response.status_code == 202, response.json()
    job_execute(job_id=response.json()["id"])
    return api_client.get(f"/api/v1/generations/{response.json()['id']}").json()


def _deck(api_client, text) -> dict:
    job = _generate(api_client, {"kind": "deck", "text": text})
    assert job["status"] == "completed", job
    return api_client.get(f"/api/v1/decks/{job['result']['deckId']}").json()


def _distractors(api_client, card, count=3) -> dict:
    return _generate(api_client, {"kind": "distractors", "flashcard_id": card.pk, "count": count})


def test_a_deck_under_one_heading_keeps_its_heading_and_its_list(api_client):
    text = "# Photosynthesis\nPlants turn light into sugar.\n- Chlorophyll\n- Stomata\n- Sunlight"
    deck = _deck(api_client, text)
    assert deck["title"] == "Photosynthesis"
    assert deck["slides"] == [
        {
            "position": 0,
            "title": "Photosynthesis",
            "blocks": [
                {"kind": "paragraph", "text": "Plants turn light into sugar."},
                {"kind": "bullets", "items": ["Chlorophyll", "Stomata", "Sunlight"]},
            ],
        }
    ]


def test_a_deck_without_headings_keeps_its_list_and_titles_no_slide_after_an_item(api_client):
    deck = _deck(api_client, "Shopping list for the week:\n- Milk\n- Eggs\n- Bread")
    assert [slide["title"] for slide in deck["slides"]] == ["Shopping list for the week"]
    assert deck["slides"][0]["blocks"][1] == {"kind": "bullets", "items": ["Milk", "Eggs", "Bread"]}


def test_a_list_alone_is_named_after_its_first_items_not_the_first_one(api_client):
    deck = _deck(api_client, "- Milk\n- Eggs\n- Bread\n- Butter")
    assert deck["title"] == "Milk · Eggs · Bread …"
    assert deck["slides"][0]["blocks"] == [
        {"kind": "bullets", "items": ["Milk", "Eggs", "Bread", "Butter"]}
    ]


def test_long_prose_under_one_heading_is_paced_over_slides_and_a_list_stays_in_place(
    api_client,
):
    text = (
        "# Tides\nThe moon pulls the sea. The sun pulls less. Twice a day the sea rises.\n"
        "Spring tides are the highest:\n- New moon\n- Full moon\nNeap tides are the lowest."
    )
    slides = _deck(api_client, text)["slides"]
    assert [slide["title"] for slide in slides] == [
        "Tides",
        "Spring tides are the highest",
        "Neap tides are the lowest",
    ]
    assert slides[0]["blocks"] == [
        {
            "kind": "paragraph",
            "text": "The moon pulls the sea. The sun pulls less. Twice a day the sea rises.",
        }
    ]
    assert slides[1]["blocks"] == [
        {"kind": "paragraph", "text": "Spring tides are the highest:"},
        {"kind": "bullets", "items": ["New moon", "Full moon"]},
    ]


def test_distractors_are_the_other_terms_of_the_text(api_client):
    _generate(
        api_client,
        {
            "kind": "flashcards",
            "text": "Ribosomes build proteins. Chloroplasts capture sunlight. Nuclei store genomes.",
        },
    )
    card = Flashcard.objects.get(question="_____ build proteins.")
    job = _distractors(api_client, card)
    assert job["status"] == "completed", job
    # What the other cards ask about comes first: the best wrong answers a text offers.
    assert job["result"]["distractors"][:2] == ["Chloroplasts", "genomes"]
    listed = api_client.get(f"/api/v1/flashcards?job={card.generation_id}").json()["results"]
    assert [c["distractors"] for c in listed if c["id"] == card.pk] == [
        job["result"]["distractors"]
    ]


def test_distractors_are_never_the_blank_nor_the_answer_in_disguise(api_client):
    _generate(api_client, {"kind": "flashcards", "text": "Ribosomes build proteins.", "count": 1})
    card = Flashcard.objects.get()
    assert (card.question, card.answer) == ("_____ build proteins.", "Ribosomes")
    job = _distractors(api_client, card, count=5)
    # Fewer than asked rather than "_____", "semosobiR" or "Ribosomes (2)", and the job says so.
    assert job["status"] == "completed", job
    assert job["result"]["distractors"] == ["proteins", "build"]
    assert job["message"] == "2 of 5 distractors: the text holds no more"


def test_distractors_never_offer_a_form_of_the_answer(api_client):
    _generate(
        api_client,
        {"kind": "flashcards", "text": "Ribosomes build proteins. Each ribosome reads strands."},
    )
    card = Flashcard.objects.get(question="_____ build proteins.")
    wrong = _distractors(api_client, card, count=5)["result"]["distractors"]
    assert len(wrong) == 5
    assert all("ribosome" not in text.lower() for text in wrong), wrong


def test_a_card_whose_text_holds_no_other_term_fails_saying_why(api_client):
    _generate(api_client, {"kind": "flashcards", "text": "Ribosomes do it.", "count": 1})
    card = Flashcard.objects.get()
    assert card.answer == "Ribosomes"
    job = _distractors(api_client, card)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "MODEL_ERROR"
    assert "no distractor other than the card's answer" in job["error"]["message"]
    assert not card.distractors.exists()


def test_a_bullet_outline_is_named_after_its_skills_not_its_first(api_client):
    job = _generate(
        api_client, {"kind": "skill_tree", "text": "- Variables\n- Loops\n  - for\n  - while"}
    )
    tree = api_client.get(f"/api/v1/skill-trees/{job['result']['treeId']}").json()
    assert tree["name"] == "Variables · Loops"
    assert [node["name"] for node in tree["tree"]] == ["Variables", "Loops"]


def test_an_outline_under_one_heading_is_named_by_it(api_client):
    job = _generate(api_client, {"kind": "skill_tree", "text": "# Python\n- Variables\n- Loops"})
    tree = api_client.get(f"/api/v1/skill-trees/{job['result']['treeId']}").json()
    assert tree["name"] == "Python"
    assert [node["name"] for node in tree["tree"]] == ["Variables", "Loops"]
