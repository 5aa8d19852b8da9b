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


def test_a_deck_of_several_headings_keeps_each_sections_blocks_in_order(api_client):
    text = (
        "# Recipe\nFirst, gather these:\n- flour\n- eggs\nThen mix them well.\n"
        "# Bake\nPut it in the oven."
    )
    slides = _deck(api_client, text)["slides"]
    assert [(slide["title"], slide["blocks"]) for slide in slides] == [
        (
            "Recipe",
            [
                {"kind": "paragraph", "text": "First, gather these:"},
                {"kind": "bullets", "items": ["flour", "eggs"]},
                {"kind": "paragraph", "text": "Then mix them well."},
            ],
        ),
        ("Bake", [{"kind": "paragraph", "text": "Put it in the oven."}]),
    ]


def _steps(first: int, last: int) -> str:
    return " ".join(f"Step {i} matters." for i in range(first, last + 1))


def test_a_long_section_is_continued_on_numbered_slides_within_max_slides(api_client):
    text = f"# Method\n{_steps(1, 20)}\n# Result\nIt works."
    slides = _deck(api_client, text)["slides"]
    assert [slide["title"] for slide in slides] == [
        "Method",
        "Method (2)",
        "Method (3)",
        "Method (4)",
        "Result",
    ]
    assert slides[1]["blocks"] == [{"kind": "paragraph", "text": _steps(7, 12)}]

    job = _generate(api_client, {"kind": "deck", "text": text, "max_slides": 3})
    deck = api_client.get(f"/api/v1/decks/{job['result']['deckId']}").json()
    # Fewer, fuller slides: the later heading is not cut for the long one, and nothing is lost.
    assert [slide["title"] for slide in deck["slides"]] == ["Method", "Method (2)", "Result"]
    said = " ".join(slide["blocks"][0]["text"] for slide in deck["slides"][:2])
    assert said == _steps(1, 20)


def test_a_deck_squeezed_into_few_slides_keeps_every_sentence_whole(api_client):
    text = " ".join(f"Sentence number {n} is about topic {n}." for n in range(1, 480))
    job = _generate(api_client, {"kind": "deck", "text": text, "max_slides": 3})
    deck = api_client.get(f"/api/v1/decks/{job['result']['deckId']}").json()

    said = " ".join(block["text"] for slide in deck["slides"] for block in slide["blocks"])

    assert len(deck["slides"]) == 3
    assert said == text


def test_continued_slides_of_a_long_heading_keep_their_number(api_client):
    heading = "H" * 298
    text = f"# {heading}\n{_steps(1, 14)}\n# Result\nIt works."
    titles = [slide["title"] for slide in _deck(api_client, text)["slides"]]
    assert titles == [heading, f"{heading[:296]} (2)", f"{heading[:296]} (3)", "Result"]


def test_a_deck_of_quote_markers_alone_is_made_not_failed(api_client):
    job = _generate(api_client, {"kind": "deck", "text": "> > >"})
    assert job["status"] == "completed", job["error"]


def test_a_deck_reads_quotes_and_drops_inline_markup(api_client):
    text = (
        "# Sources\nSee **the** [*manual*](https://example.com/m) and `run_it --fast`.\n"
        "> Measure twice,\n> cut once.\n"
        "# Next\nA __bold__ claim with snake_case kept."
    )
    slides = _deck(api_client, text)["slides"]
    assert slides[0]["blocks"] == [
        {"kind": "paragraph", "text": "See the manual and run_it --fast."},
        {"kind": "quote", "text": "Measure twice, cut once."},
    ]
    assert slides[1]["blocks"] == [
        {"kind": "paragraph", "text": "A bold claim with snake_case kept."}
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


def _cards(api_client, text: str, count: int) -> list[tuple[str, str]]:
    job = _generate(api_client, {"kind": "flashcards", "text": text, "count": count})
    assert job["status"] == "completed", job
    listed = api_client.get(f"/api/v1/flashcards?job={job['id']}").json()["results"]
    return [(card["question"], card["answer"]) for card in listed]


HINDI = (
    "प्रकाश संश्लेषण वह प्रक्रिया है जिससे पौधे चीनी बनाते हैं। क्लोरोफिल प्रकाश को अवशोषित करता है।"
    " पत्तियाँ हरी होती हैं।"
)


def test_words_keep_their_vowel_signs_and_accents_typed_apart(api_client):
    assert _deck(api_client, HINDI)["title"].startswith("प्रकाश संश्लेषण वह")
    cards = _cards(api_client, HINDI, 3)
    assert len(cards) == 3 and all("_____" in question for question, _ in cards)
    decomposed = "Größere Übungen helfen.".replace("ö", "o\u0308").replace("Ü", "U\u0308")
    ((question, answer),) = _cards(api_client, decomposed, 1)
    assert (question, answer) == ("_____ Übungen helfen.", "Größere")


def test_a_cloze_card_blanks_its_answer_everywhere_and_a_repeated_sentence_is_one_card(
    api_client,
):
    text = "The protein folds before the Protein moves. " * 3 + "Dogs bark loudly at night."
    cards = _cards(api_client, text, 10)
    assert cards == [
        ("The _____ folds before the _____ moves.", "protein"),
        ("Dogs bark _____ at night.", "loudly"),
    ]


MARKDOWN = (
    "# Setup\nInstall it first.\n```python\n# install the package\n- x\n```\n## Usage\n- Run it\n"
)


def test_code_blocks_are_neither_slides_nor_skills(api_client):
    deck = _deck(api_client, MARKDOWN)
    assert [slide["title"] for slide in deck["slides"]] == ["Setup", "Usage"]
    assert "```" not in str(deck)
    job = _generate(api_client, {"kind": "skill_tree", "text": MARKDOWN})
    tree = api_client.get(f"/api/v1/skill-trees/{job['result']['treeId']}").json()
    assert (tree["name"], [node["name"] for node in tree["tree"]]) == (
        "Setup",
        ["Install it first", "Usage"],
    )


def test_a_skill_tree_of_one_paragraph_has_its_terms_as_skills(api_client):
    text = "Photosynthesis turns light into chemical energy inside chloroplasts."
    job = _generate(api_client, {"kind": "skill_tree", "text": text})
    assert job["status"] == "completed", job
    assert job["result"]["nodeCount"] >= 5


def test_a_definitions_distractors_are_not_the_term_it_asks_about(api_client):
    text = "Mitochondria are the powerhouse of the cell. Ribosomes build proteins."
    _cards(api_client, text, 3)
    card = Flashcard.objects.get(question="Mitochondria?")
    wrong = _distractors(api_client, card)["result"]["distractors"]
    assert wrong and "Mitochondria" not in wrong


def test_a_story_opens_with_a_capital(api_client):
    job = _generate(api_client, {"kind": "story", "prompt": "a keeper finds a map", "length": 60})
    assert job["status"] == "completed", job
    story = api_client.get(f"/api/v1/stories/{job['result']['storyId']}").json()
    assert story["text"].startswith("Someone had always believed")


def _edited(api_client, tenant, source: bytes, prompt: str):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image

    from generations.models import GeneratedImage

    name = default_storage.save(f"generations/{tenant.pk}/source.img", ContentFile(source))
    original = GeneratedImage.objects.create(
        tenant=tenant, kind=GeneratedImage.Kind.GENERATION, prompt="", file=name, width=1, height=1
    )
    job = _generate(
        api_client, {"kind": "image_edit", "prompt": prompt, "source_image_id": original.pk}
    )
    assert job["status"] == "completed", job
    edited = GeneratedImage.objects.get(pk=job["result"]["imageIds"][0])
    with edited.file.open("rb") as handle:
        return edited, Image.open(handle).convert("RGB")


def test_a_photo_taken_upright_is_edited_upright(api_client, tenant):
    import io

    from PIL import Image

    sideways = Image.new("RGB", (80, 40), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # as a phone held upright stores it: shown 40 wide and 80 high
    jpeg = io.BytesIO()
    sideways.save(jpeg, format="JPEG", exif=exif.tobytes())

    edited, image = _edited(api_client, tenant, jpeg.getvalue(), "a hat")

    assert (edited.width, edited.height) == image.size == (40, 80)


def test_a_sixteen_bit_image_keeps_its_tones(api_client, tenant):
    import io

    from PIL import Image

    png = io.BytesIO()
    Image.new("I;16", (64, 64), 1000).save(png, format="PNG")  # nearly black

    _, image = _edited(api_client, tenant, png.getvalue(), "invert")

    assert min(image.getpixel((40, 40))) > 200  # inverted: nearly white


def test_an_emoji_and_its_presentation_selector_make_no_word(api_client):
    job = _generate(
        api_client, {"kind": "story", "prompt": "❤️ a love story in Paris", "length": 50}
    )
    story = api_client.get(f"/api/v1/stories/{job['result']['storyId']}").json()
    assert story["title"] == "A love story in Paris"


def test_a_thai_cloze_keeps_each_letter_with_its_marks(api_client):
    import unicodedata

    ((question, answer),) = _cards(api_client, "แมวชอบนอนบนเก้าอี้ในห้องนั่งเล่นทุกวัน", 1)
    after = question.split("_____")[1][:1]
    assert unicodedata.category(answer[0])[0] != "M"
    assert not after or unicodedata.category(after)[0] != "M"


def test_a_text_of_an_empty_code_block_is_still_read(api_client):
    for kind in ("deck", "skill_tree"):
        assert _generate(api_client, {"kind": kind, "text": "```\n```"})["status"] == "completed"


def _captioned(api_client, tenant, caption: str):
    """The caption drawn in white over a black picture (an edit asked for in grey keeps it black)."""
    import io

    from PIL import Image

    black = io.BytesIO()
    Image.new("RGB", (320, 80)).save(black, format="PNG")
    return _edited(api_client, tenant, black.getvalue(), f"{caption} grey")[1]


def _ink(image) -> int:
    return sum(image.convert("L").point(lambda value: 255 if value > 128 else 0).histogram()[255:])


def test_a_chinese_caption_is_drawn_in_its_letters_not_in_boxes(api_client, tenant):
    bare = _ink(_captioned(api_client, tenant, ""))
    ones = _ink(_captioned(api_client, tenant, "一一一一")) - bare
    dragons = _ink(_captioned(api_client, tenant, "龍龍龍龍")) - bare
    # A font without them draws both as the same empty boxes: as much ink for one stroke as for
    # seventeen.
    assert 0 < 3 * ones < dragons


def test_an_arabic_caption_reads_from_the_right(api_client, tenant):
    english = _captioned(api_client, tenant, "hello world").getbbox()
    arabic = _captioned(api_client, tenant, "مرحبا بالعالم").getbbox()
    assert english[0] < 20 and english[2] < 160, english
    assert arabic[0] > 160 and arabic[2] > 300, arabic


def test_an_emoji_in_a_caption_is_drawn_in_color(api_client, tenant):
    image = _captioned(api_client, tenant, "a fox 🦊")
    saturated = sum(image.convert("HSV").getchannel("S").histogram()[128:])
    assert saturated > 20
