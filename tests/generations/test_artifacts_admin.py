"""Generated artifacts in the admin: the job that made one, a story's status, what a generation
computed and the structure of decks, card sets and skill trees are fixed once made; a block's items
are what its kind shows; titles and text stay editable."""

from generations.models import (
    Block,
    Deck,
    Distractor,
    Flashcard,
    GeneratedImage,
    SkillNode,
    SkillTree,
    Slide,
    Story,
)
from tests.jobs.factories import JobFactory


def _inline(prefix: str, rows: list[dict]) -> dict:
    data = {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": str(len(rows))}
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{name}": value for name, value in row.items()})
    return data


def test_a_finished_story_keeps_its_status_and_job_when_staff_fix_its_text(
    admin_client, api_client, tenant
):
    job, unrelated = JobFactory(tenant=tenant, type="story"), JobFactory(tenant=tenant)
    story = Story.objects.create(
        tenant=tenant, job=job, status=Story.Status.READY, title="Teh map", text="Once."
    )

    response = admin_client.post(
        f"/admin/generations/story/{story.pk}/change/",
        {
            "job": unrelated.pk,
            "status": Story.Status.GENERATING,
            "prompt": '{"prompt": "a map"}',
            "title": "The map",
            "text": "Once upon a time.",
            "words": "4",
            "error": "",
        },
    )

    assert response.status_code == 302
    story.refresh_from_db()
    assert (story.status, story.job_id) == (Story.Status.READY, job.pk)
    assert (story.title, story.text) == ("The map", "Once upon a time.")
    shown = api_client.get(f"/api/v1/stories/{story.pk}").json()
    assert shown["status"] == "ready"
    assert 'name="job"' not in admin_client.get("/admin/generations/deck/add/").content.decode()


def test_a_skill_nodes_depth_parent_and_place_are_fixed_and_its_name_is_not(admin_client, tenant):
    tree = SkillTree.objects.create(tenant=tenant, name="Tree", depth=2, node_count=3)
    root = SkillNode.objects.create(tree=tree, name="Root", depth=1, position=0)
    other_root = SkillNode.objects.create(tree=tree, name="Other", depth=1, position=1)
    leaf = SkillNode.objects.create(tree=tree, parent=root, name="Laef", depth=2, position=0)

    response = admin_client.post(
        f"/admin/generations/skillnode/{leaf.pk}/change/",
        {"tree": tree.pk, "parent": other_root.pk, "name": "Leaf", "depth": "99", "position": "7"},
    )
    assert response.status_code == 302
    leaf.refresh_from_db()
    assert (leaf.name, leaf.parent_id, leaf.depth, leaf.position) == ("Leaf", root.pk, 2, 0)

    response = admin_client.post(
        f"/admin/generations/skilltree/{tree.pk}/change/",
        {"name": "Skills", "depth": "99", "node_count": "0"},
    )
    assert response.status_code == 302
    tree.refresh_from_db()
    assert (tree.name, tree.depth, tree.node_count) == ("Skills", 2, 3)


def test_slides_and_distractors_keep_their_order_on_their_artifacts_page(admin_client, tenant):
    deck = Deck.objects.create(tenant=tenant, title="Deck")
    first = Slide.objects.create(deck=deck, position=0, title="Frist")
    second = Slide.objects.create(deck=deck, position=1, title="Second")

    response = admin_client.post(
        f"/admin/generations/deck/{deck.pk}/change/",
        {
            "title": "Deck",
            **_inline(
                "slides",
                [
                    {"id": first.pk, "deck": deck.pk, "position": "1", "title": "First"},
                    {"id": second.pk, "deck": deck.pk, "position": "0", "title": "Second"},
                ],
            ),
        },
    )
    assert response.status_code == 302
    assert list(deck.slides.values_list("title", "position")) == [("First", 0), ("Second", 1)]
    response = admin_client.post(
        f"/admin/generations/slide/{second.pk}/change/",
        {"deck": deck.pk, "position": "0", "title": "Second", **_inline("blocks", [])},
    )
    assert response.status_code == 302
    assert Slide.objects.get(pk=second.pk).position == 1

    card = Flashcard.objects.create(tenant=tenant, question="Q?", answer="A.")
    other = Flashcard.objects.create(tenant=tenant, question="R?", answer="B.")
    wrong = Distractor.objects.create(tenant=tenant, flashcard=card, text="C", position=0)
    response = admin_client.post(
        f"/admin/generations/distractor/{wrong.pk}/change/",
        {"flashcard": other.pk, "text": "C.", "position": "3"},
    )
    assert response.status_code == 302
    wrong.refresh_from_db()
    assert (wrong.flashcard_id, wrong.position, wrong.text) == (card.pk, 0, "C.")


def test_a_wrong_answer_added_on_its_cards_page_belongs_to_the_cards_workspace(
    admin_client, api_client, tenant
):
    card = Flashcard.objects.create(tenant=tenant, question="Q?", answer="A.")

    response = admin_client.post(
        f"/admin/generations/flashcard/{card.pk}/change/",
        {
            "tenant": tenant.pk,
            "question": "Q?",
            "answer": "A.",
            "distractors-TOTAL_FORMS": "1",
            "distractors-INITIAL_FORMS": "0",
            "distractors-0-position": "0",
            "distractors-0-text": "B.",
        },
    )

    assert response.status_code == 302
    added = Distractor.objects.get()
    assert (added.tenant_id, added.flashcard_id, added.text) == (tenant.pk, card.pk, "B.")


def test_a_storys_words_time_and_error_are_its_generations(admin_client, api_client, tenant):
    story = Story.objects.create(
        tenant=tenant,
        status=Story.Status.READY,
        title="Map",
        text="Once.",
        words=1,
        generation_time=2.5,
    )
    response = admin_client.post(
        f"/admin/generations/story/{story.pk}/change/",
        {
            "prompt": '{"prompt": "a map"}',
            "title": "The map",
            "text": "Once upon a time.",
            "words": "999",
            "generation_time": "-5",
            "error": "Boom",
        },
    )
    assert response.status_code == 302
    story.refresh_from_db()
    assert (story.title, story.words, story.generation_time, story.error) == ("The map", 1, 2.5, "")
    shown = api_client.get(f"/api/v1/stories/{story.pk}").json()
    assert (shown["words"], shown["generation_time"]) == (1, 2.5)


def test_an_images_size_kind_and_source_are_its_generations(admin_client, api_client, tenant):
    source = GeneratedImage.objects.create(
        tenant=tenant, prompt="A fox", file="generations/fox.png", width=64, height=64
    )
    image = GeneratedImage.objects.create(
        tenant=tenant, prompt="An owl", file="generations/owl.png", width=64, height=64
    )
    response = admin_client.post(
        f"/admin/generations/generatedimage/{image.pk}/change/",
        {
            "prompt": "A barn owl",
            "kind": "edit",
            "width": "4000",
            "height": "4000",
            "source_image": source.pk,
            "file": "generations/fox.png",
        },
    )
    assert response.status_code == 302
    image.refresh_from_db()
    assert (image.prompt, image.kind, image.width, image.height) == (
        "A barn owl",
        "generation",
        64,
        64,
    )
    assert (image.source_image_id, image.file.name) == (None, "generations/owl.png")
    shown = api_client.get(f"/api/v1/images/{image.pk}").json()
    assert (shown["width"], shown["height"]) == (64, 64)


def test_a_blocks_items_are_what_its_kind_shows(admin_client, api_client, tenant):
    deck = Deck.objects.create(tenant=tenant, title="Deck")
    slide = Slide.objects.create(deck=deck, position=0, title="Slide")
    block = Block.objects.create(slide=slide, position=0, kind="bullets", items=["One", "Two"])
    page = f"/admin/generations/block/{block.pk}/change/"

    for kind, items in [
        ("bullets", '{"a": {"b": 1}}'),
        ("bullets", '["One", 2]'),
        ("bullets", "[]"),
        ("bullets", '["One", "  "]'),
        ("bullets", '["One", "\\u0000"]'),
        ("bullets", f'["{"x" * 501}"]'),
        ("paragraph", '["One"]'),
    ]:
        refused = admin_client.post(page, {"kind": kind, "text": "Text", "items": items})
        assert refused.status_code == 200, (kind, items)
        assert refused.context["adminform"].form.errors["items"], (kind, items)
    block.refresh_from_db()
    assert (block.kind, block.items) == ("bullets", ["One", "Two"])

    saved = admin_client.post(page, {"kind": "bullets", "items": '["First", "Second"]'})
    assert saved.status_code == 302
    shown = api_client.get(f"/api/v1/decks/{deck.pk}").json()
    assert shown["slides"][0]["blocks"][0]["items"] == ["First", "Second"]

    # On the slide's page too.
    response = admin_client.post(
        f"/admin/generations/slide/{slide.pk}/change/",
        {
            "title": "Slide",
            **_inline(
                "blocks",
                [{"id": block.pk, "slide": slide.pk, "kind": "bullets", "items": '{"a": 1}'}],
            ),
        },
    )
    assert response.status_code == 200
    block.refresh_from_db()
    assert block.items == ["First", "Second"]

    saved = admin_client.post(page, {"kind": "paragraph", "text": "Plain.", "items": ""})
    assert saved.status_code == 302
    block.refresh_from_db()
    assert (block.kind, block.text, block.items) == ("paragraph", "Plain.", [])


def test_staff_add_a_story_ready_never_generating_as_no_job_would_write_it(
    admin_client, api_client, tenant
):
    form = admin_client.get("/admin/generations/story/add/").content.decode()
    assert '<option value="generating"' not in form
    assert '<option value="ready" selected>' in form
    story = {
        "tenant": tenant.pk,
        "prompt": '{"prompt": "a map"}',
        "title": "By hand",
        "text": "Once.",
    }

    refused = admin_client.post("/admin/generations/story/add/", {**story, "status": "generating"})

    assert refused.status_code == 200
    assert "Select a valid choice" in refused.content.decode()
    assert not Story.objects.exists()
    added = admin_client.post("/admin/generations/story/add/", {**story, "status": "ready"})
    assert added.status_code == 302
    shown = api_client.get(f"/api/v1/stories/{Story.objects.get().pk}").json()
    assert (shown["status"], shown["title"]) == ("ready", "By hand")
