import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from accounts.models import CreditEntry
from generations.models import Deck, Flashcard, GeneratedImage, SkillTree, Slide, Story
from generations.providers.offline import OfflineProvider
from generations.schemas import SKILL_TREE_MAX_DEPTH
from generations.signing import view_token, view_url
from jobs.errors import PermanentError
from jobs.models import Job
from jobs.services import job_execute, job_requeue, job_submit, jobs_purge


@pytest.fixture
def costly(settings):
    settings.JOB_CREDIT_COSTS = {
        name: 5
        for name in ("deck_generation", "story_generation", "image_edit", "flashcard_generation")
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "deck", "text": ""}, "text"),
        ({"kind": "deck"}, "text"),
        ({"kind": "deck", "text": "x" * 20_001}, "text"),
        ({"kind": "flashcards", "text": "ok", "count": 0}, "count"),
        ({"kind": "poem", "text": "ok"}, "kind"),
        ({"kind": "story", "prompt": "   "}, "prompt"),
        # Only characters that show nothing: zero-width spaces, a byte order mark, joiners and
        # direction marks, a soft hyphen, combining marks on nothing, a Hangul filler.
        ({"kind": "deck", "text": "\u200b\u200b"}, "text"),
        ({"kind": "flashcards", "text": "\ufeff"}, "text"),
        ({"kind": "skill_tree", "text": "\u200d\u2060\u200e\u00ad\n\u3000"}, "text"),
        ({"kind": "story", "prompt": "\u0301\u20dd \u2028"}, "prompt"),
        ({"kind": "image", "prompt": "\u3164"}, "prompt"),
        ({"kind": "image", "prompt": "\u2800\u2800"}, "prompt"),
        ({"kind": "image_edit", "prompt": "\u200b", "source_image_id": 1}, "prompt"),
        ({"kind": "image", "prompt": "fox", "width": 5000}, "width"),
        ({"kind": "distractors", "flashcard_id": 999999}, "flashcard_id"),
        (
            {"kind": "image_edit", "prompt": "x", "source_url": "https://127.0.0.1/cat.png"},
            "source_url",
        ),
        (
            {"kind": "image_edit", "prompt": "x", "source_url": "https://localhost/cat.png"},
            "source_url",
        ),
        (
            {"kind": "image_edit", "prompt": "x", "source_url": "https://169.254.169.254/latest"},
            "source_url",
        ),
        (
            {"kind": "image_edit", "prompt": "x", "source_url": "http://example.com/cat.png"},
            "source_url",
        ),
        (
            {"kind": "image_edit", "prompt": "x", "source_url": "https://example.com:65536/x.png"},
            "source_url",
        ),
        *[
            (
                {"kind": "image_edit", "prompt": "x", "source_url": f"https://[{ip}]/x.png"},
                "source_url",
            )
            for ip in (
                "::127.0.0.1",
                "::ffff:127.0.0.1",
                "::ffff:0:7f00:1",
                "64:ff9b::a9fe:a9fe",
                "2002:a00:1::",
                "fec0::1",
                "ff0e::1",
                "224.0.0.1",
            )
        ],
        (
            {"kind": "image_edit", "prompt": "x", "source_url": "https://\u00ad.com/x.png"},
            "source_url",
        ),
        ({"kind": "image_edit", "prompt": "x"}, "source_image_id"),
        # A misspelt option is refused, not dropped for its default (10 slides).
        ({"kind": "deck", "text": "Some notes.", "max_slide": 3}, "max_slide"),
    ],
)
def test_bad_input_is_400_with_the_field_and_spends_nothing(
    api_client, tenant, costly, body, field
):
    response = api_client.post("/api/v1/generations", body, format="json")
    assert response.status_code == 400, response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"]
    assert not Job.objects.exists() and not Story.objects.exists()
    assert not CreditEntry.objects.exists()
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"kind": "deck", "priority": "asap"}, {"priority", "text"}),
        (
            {"kind": "image", "priority": 1, "width": 5000, "colour": "red"},
            {"priority", "prompt", "width", "colour"},
        ),
    ],
)
def test_every_invalid_field_is_named_in_one_400(api_client, tenant, costly, body, errors):
    response = api_client.post("/api/v1/generations", body, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == errors
    assert not Job.objects.exists() and not CreditEntry.objects.exists()


def test_visible_text_among_invisible_characters_is_accepted(api_client):
    # Devanagari's conjuncts are written with a virama and a zero-width joiner.
    response = api_client.post(
        "/api/v1/generations",
        {"kind": "deck", "text": "\u200bक्\u200dष\ufeff", "title": "\u200b"},
        format="json",
    )
    assert response.status_code == 202, response.json()


def test_a_story_exists_from_submit_and_fails_visibly(api_client, monkeypatch):
    response = api_client.post(
        "/api/v1/generations", {"kind": "story", "prompt": "a storm"}, format="json"
    )
    story = Story.objects.get(job_id=response.json()["id"])
    assert story.status == "generating"

    def broken(self, task, inputs):
        from jobs.errors import PermanentError

        raise PermanentError("MODEL_ERROR", "the model refused")

    monkeypatch.setattr(OfflineProvider, "_generate", broken)
    job_execute(job_id=response.json()["id"])
    story.refresh_from_db()
    assert story.status == "failed" and "refused" in story.error
    failed = api_client.get(f"/api/v1/generations/{response.json()['id']}").json()
    assert failed["status"] == "failed" and failed["result"] is None
    (found,) = api_client.get(f"/api/v1/stories?job={failed['id']}").json()["results"]
    assert (found["id"], found["status"], found["error"]) == (story.pk, "failed", story.error)


def test_a_canceled_generations_story_is_found_by_its_job_and_only_in_its_workspace(
    api_client, other_api_client
):
    submitted = api_client.post(
        "/api/v1/generations", {"kind": "story", "prompt": "a storm"}, format="json"
    ).json()
    api_client.post(f"/api/v1/jobs/{submitted['id']}/cancel")
    api_client.post("/api/v1/generations", {"kind": "story", "prompt": "a calm"}, format="json")

    listed = api_client.get("/api/v1/stories").json()["results"]
    found = api_client.get(f"/api/v1/stories?job={submitted['id']}").json()["results"]

    assert [story["prompt"]["prompt"] for story in listed] == ["a calm", "a storm"]
    assert [(story["job"], story["status"]) for story in found] == [(submitted["id"], "failed")]
    assert other_api_client.get(f"/api/v1/stories?job={submitted['id']}").json()["results"] == []
    bad = api_client.get("/api/v1/stories?job=nope")
    assert (bad.status_code, list(bad.json()["errors"])) == (400, ["job"])


def _database_refuses_slides_titled(title: str) -> None:
    """A trigger, undone with the test's transaction, that fails the INSERT of such a slide."""
    table = Slide._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION offload_test_slide_refuse() RETURNS trigger AS $$ BEGIN"
            f" IF NEW.title = '{title}' THEN RAISE EXCEPTION 'slide refused'; END IF;"
            " RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            f"CREATE TRIGGER slide_refuse BEFORE INSERT ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION offload_test_slide_refuse()"
        )


def test_a_deck_that_fails_while_being_written_leaves_no_deck(tenant, monkeypatch):
    slides = [
        {"title": f"Slide {i}", "blocks": [{"kind": "paragraph", "text": "ok"}]} for i in range(6)
    ]
    slides[3]["title"] = "refused"
    _database_refuses_slides_titled("refused")  # the 4th insert fails
    monkeypatch.setattr(
        OfflineProvider, "_generate", lambda self, task, inputs: {"title": "Half", "slides": slides}
    )
    job = job_submit(tenant=tenant, type="deck_generation", payload={"text": "anything"})
    job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    assert job.status == Job.Status.PENDING and job.error_code == "INTERNAL_ERROR"
    assert not Deck.objects.exists()


def test_generation_detail_is_only_for_generations(api_client, tenant):
    other = Job.objects.create(tenant=tenant, type="diagnostic")
    assert api_client.get(f"/api/v1/generations/{other.pk}").status_code == 404


def test_another_workspaces_artifacts_are_not_found(api_client, other_tenant):
    deck = Deck.objects.create(tenant=other_tenant, title="Theirs")
    story = Story.objects.create(tenant=other_tenant, title="Theirs")
    card = Flashcard.objects.create(tenant=other_tenant, question="q", answer="a")
    job = job_submit(
        tenant=other_tenant, type="flashcard_generation", payload={"text": "Theirs only."}
    )
    for path in (
        f"/api/v1/decks/{deck.pk}",
        f"/api/v1/stories/{story.pk}",
        f"/api/v1/generations/{job.pk}",
    ):
        assert api_client.get(path).status_code == 404, path
    Flashcard.objects.filter(pk=card.pk).update(job=job)
    assert api_client.get(f"/api/v1/flashcards?job={job.pk}").json()["results"] == []
    response = api_client.post(
        "/api/v1/generations", {"kind": "distractors", "flashcard_id": card.pk}, format="json"
    )
    assert response.status_code == 400


def test_a_bad_job_filter_is_400(api_client):
    assert api_client.get("/api/v1/flashcards?job=nope").status_code == 400


def test_a_view_url_is_signed_and_expires(client, tenant, settings):
    deck = Deck.objects.create(tenant=tenant, title="Signed")
    url = view_url("deck", deck.pk).removeprefix(settings.PUBLIC_BASE_URL)
    assert client.get(url).status_code == 200
    token = view_token("deck", deck.pk)
    assert client.get(f"/v/{token[:-2]}xx/").status_code == 404
    import time_machine

    with time_machine.travel(
        timezone.now() + timezone.timedelta(seconds=settings.GENERATION_VIEW_URL_MAX_AGE + 5)
    ):
        assert client.get(url).status_code == 404


def test_an_image_file_link_serves_only_images(client, tenant):
    deck = Deck.objects.create(tenant=tenant, title="Not an image")
    assert client.get(f"/v/{view_token('deck', deck.pk)}/file").status_code == 404
    assert not GeneratedImage.objects.exists()


def test_an_offline_story_reaches_its_length_without_repeating_itself(tenant, api_client):
    response = api_client.post(
        "/api/v1/generations",
        {"kind": "story", "prompt": "a lighthouse keeper finds a map", "characters": ["Ingrid"]},
        format="json",
    )
    job_execute(job_id=response.json()["id"])
    story = Story.objects.get()
    sentences = [s for paragraph in story.text.split("\n\n") for s in paragraph.split(". ")]
    assert len(sentences) == len(set(sentences))
    assert story.words >= 300
    assert story.title == "A lighthouse keeper finds a map"
    assert story.text.endswith("was never quite the same again.")


def test_a_completed_generation_no_longer_shows_the_step_it_was_on(api_client):
    response = api_client.post(
        "/api/v1/generations", {"kind": "deck", "text": "Ribosomes build proteins."}, format="json"
    )
    job_execute(job_id=response.json()["id"])
    job = api_client.get(f"/api/v1/generations/{response.json()['id']}").json()
    assert (job["status"], job["progress"], job["message"]) == ("completed", 100, "")


def test_a_text_too_short_for_the_cards_asked_says_so(tenant, api_client):
    response = api_client.post(
        "/api/v1/generations",
        {"kind": "flashcards", "text": "Ribosomes build proteins.", "count": 5},
        format="json",
    )
    job_execute(job_id=response.json()["id"])
    job = api_client.get(f"/api/v1/generations/{response.json()['id']}").json()
    assert job["status"] == "completed"
    assert job["result"]["count"] == Flashcard.objects.count() < 5
    assert job["message"] == f"{job['result']['count']} of 5 cards: the text holds no more"


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "deck", "text": "Tides follow the moon. Ebb and flow."},
        {"kind": "skill_tree", "text": "- Tides\n- Currents"},
        {"kind": "story", "prompt": "A storm at sea"},
    ],
)
def test_a_canceled_generation_left_to_its_defaults_can_be_retried(api_client, body):
    job = api_client.post("/api/v1/generations", body, format="json").json()
    assert api_client.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 200
    retried = api_client.post(f"/api/v1/jobs/{job['id']}/retry")
    assert retried.status_code == 202, retried.json()
    assert retried.json()["retry_of"] == job["id"]
    job_execute(job_id=retried.json()["id"])
    assert api_client.get(retried["Location"]).json()["status"] == "completed"


def test_an_outline_deeper_than_a_skill_tree_may_be_still_makes_one(api_client):
    text = "\n".join("  " * depth + f"- Level {depth}" for depth in range(16))
    job = api_client.post(
        "/api/v1/generations", {"kind": "skill_tree", "text": text}, format="json"
    ).json()
    job_execute(job_id=job["id"])
    generation = api_client.get(f"/api/v1/generations/{job['id']}").json()
    assert generation["status"] == "completed", generation["error"]
    result = Job.objects.get(pk=job["id"]).result
    tree = SkillTree.objects.get(pk=result["treeId"])
    # No bullet is lost: the ones nested too deep sit at the deepest level a tree may have.
    assert (tree.name, tree.node_count) == ("Level 0", 15)
    assert tree.depth == SKILL_TREE_MAX_DEPTH - 1  # below "Level 0", itself a level below the root


def test_a_generations_cards_are_listed_in_the_order_they_were_made(api_client):
    response = api_client.post(
        "/api/v1/generations",
        {
            "kind": "flashcards",
            "text": "Ribosomes build proteins. Chloroplasts capture sunlight. Nuclei store genomes.",
        },
        format="json",
    )
    job_execute(job_id=response.json()["id"])
    made = api_client.get(response["Location"]).json()["result"]["flashcardIds"]
    assert len(made) == 3

    listed = api_client.get(f"/api/v1/flashcards?job={response.json()['id']}&page_size=2").json()
    following = api_client.get(listed["next"]).json()
    assert [card["id"] for card in listed["results"] + following["results"]] == made


def test_a_requeued_story_is_generating_again_without_its_old_error(api_client, monkeypatch):
    job_id = api_client.post(
        "/api/v1/generations", {"kind": "story", "prompt": "a storm"}, format="json"
    ).json()["id"]

    def refused(self, task, inputs):
        raise PermanentError("MODEL_ERROR", "the model refused")

    with monkeypatch.context() as patched:
        patched.setattr(OfflineProvider, "_generate", refused)
        job_execute(job_id=job_id)
    story = Story.objects.get(job_id=job_id)
    assert api_client.get(f"/api/v1/stories/{story.pk}").json()["status"] == "failed"

    job_requeue(job=Job.objects.get(pk=job_id), actor="ops")
    assert api_client.get(f"/api/v1/generations/{job_id}").json()["status"] == "pending"
    shown = api_client.get(f"/api/v1/stories/{story.pk}").json()
    assert (shown["status"], shown["error"]) == ("generating", "")

    job_execute(job_id=job_id)
    assert api_client.get(f"/api/v1/stories/{story.pk}").json()["status"] == "ready"


def test_a_poll_while_an_image_is_drawn_says_which_image_it_is(api_client, monkeypatch):
    draw = OfflineProvider.image
    polled = []

    with time_machine.travel(timezone.now(), tick=False) as clock:

        def slow(self, prompt, width, height):
            polled.append(api_client.get(f"/api/v1/generations/{job_id}").json())
            clock.shift(2)  # each image takes the provider a while
            return draw(self, prompt, width, height)

        monkeypatch.setattr(OfflineProvider, "image", slow)
        job_id = api_client.post(
            "/api/v1/generations",
            {"kind": "image", "prompt": "a fox", "width": 64, "height": 64, "count": 3},
            format="json",
        ).json()["id"]
        job_execute(job_id=job_id)

    assert [(job["status"], job["progress"], job["message"]) for job in polled] == [
        ("processing", 10, "drawing image 1 of 3"),
        ("processing", 36, "drawing image 2 of 3"),
        ("processing", 63, "drawing image 3 of 3"),
    ]


def _story_submitted(api_client) -> str:
    return api_client.post(
        "/api/v1/generations", {"kind": "story", "prompt": "a storm"}, format="json"
    ).json()["id"]


def _failed_at_once_and_refunded(api_client, tenant, job_id: str, what: str) -> None:
    job = api_client.get(f"/api/v1/generations/{job_id}").json()
    assert (job["status"], job["attempts"], job["error"]) == (
        "failed",
        1,
        {"code": "NOT_FOUND", "message": f"The {what} no longer exists."},
    )
    assert job["credits_refunded"] == job["credits_charged"] == 5
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100


def test_a_story_deleted_before_its_generation_runs_fails_it_at_once(api_client, tenant, costly):
    job_id = _story_submitted(api_client)
    Story.objects.filter(job_id=job_id).delete()  # by staff, in the admin

    job_execute(job_id=job_id)

    _failed_at_once_and_refunded(api_client, tenant, job_id, "story")


def test_a_story_deleted_while_it_is_written_stays_deleted(api_client, tenant, costly, monkeypatch):
    write = OfflineProvider._generate

    def deleted_meanwhile(self, task, inputs):
        Story.objects.filter(job_id=job_id).delete()  # by staff, in the admin
        return write(self, task, inputs)

    monkeypatch.setattr(OfflineProvider, "_generate", deleted_meanwhile)
    job_id = _story_submitted(api_client)
    job_execute(job_id=job_id)

    assert not Story.objects.exists()
    assert api_client.get(f"/api/v1/stories?job={job_id}").json()["results"] == []
    _failed_at_once_and_refunded(api_client, tenant, job_id, "story")


def test_a_card_deleted_while_its_wrong_answers_are_written_fails_them_at_once(
    api_client, tenant, settings, monkeypatch
):
    settings.JOB_CREDIT_COSTS = {"distractor_generation": 5}
    card = Flashcard.objects.create(
        tenant=tenant, question="_____ build proteins.", answer="Ribosomes"
    )

    def deleted_meanwhile(self, task, inputs):
        card.delete()  # by staff, in the admin
        return {"distractors": ["Nuclei", "Chloroplasts"]}

    monkeypatch.setattr(OfflineProvider, "_generate", deleted_meanwhile)
    job_id = api_client.post(
        "/api/v1/generations", {"kind": "distractors", "flashcard_id": card.pk}, format="json"
    ).json()["id"]
    job_execute(job_id=job_id)

    _failed_at_once_and_refunded(api_client, tenant, job_id, "flashcard")


def test_a_story_is_found_by_its_generation_after_the_job_is_purged(api_client, settings):
    job_id = _story_submitted(api_client)
    job_execute(job_id=job_id)
    finished = timezone.now() - timezone.timedelta(
        hours=settings.JOBS_RETENTION_COMPLETED_HOURS + 1
    )
    Job.objects.filter(pk=job_id).update(finished_at=finished)
    assert jobs_purge()["deleted"] == 1

    (found,) = api_client.get(f"/api/v1/stories?job={job_id}").json()["results"]
    assert (found["status"], found["prompt"]["prompt"], found["job"]) == ("ready", "a storm", None)


# Committed: the edit's row names its source, which the database checks as the edit commits.
@pytest.mark.django_db(transaction=True)
def test_a_source_image_deleted_while_it_is_edited_fails_the_edit_at_once(
    api_client, tenant, costly, monkeypatch
):
    folder = f"generations/{tenant.pk}"
    drawn = ContentFile(OfflineProvider().image("a fox", 64, 64))
    name = default_storage.save(f"{folder}/source.png", drawn)
    source = GeneratedImage.objects.create(
        tenant=tenant, prompt="a fox", file=name, width=64, height=64
    )
    edit = OfflineProvider.image_edit

    def deleted_meanwhile(self, original, prompt):
        GeneratedImage.objects.filter(pk=source.pk).delete()  # by staff, in the admin
        return edit(self, original, prompt)

    monkeypatch.setattr(OfflineProvider, "image_edit", deleted_meanwhile)
    job_id = api_client.post(
        "/api/v1/generations",
        {"kind": "image_edit", "prompt": "a hat", "source_image_id": source.pk},
        format="json",
    ).json()["id"]
    job_execute(job_id=job_id)

    _failed_at_once_and_refunded(api_client, tenant, job_id, "source image")
    assert not GeneratedImage.objects.exists()
    assert default_storage.listdir(folder)[1] == []  # the source's file went, and the edit's


def test_polling_a_story_answers_304_until_its_generation_writes_it(api_client):
    submitted = api_client.post(
        "/api/v1/generations", {"kind": "story", "prompt": "a storm"}, format="json"
    ).json()
    url = f"/api/v1/stories/{Story.objects.get(job_id=submitted['id']).pk}"
    generating = api_client.get(url)
    assert generating.json()["status"] == "generating"
    unchanged = api_client.get(url, HTTP_IF_NONE_MATCH=generating["ETag"])
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    job_execute(job_id=submitted["id"])
    written = api_client.get(url, HTTP_IF_NONE_MATCH=generating["ETag"])
    assert written.status_code == 200
    assert written.json()["status"] == "ready"
    assert api_client.get(url, HTTP_IF_NONE_MATCH=written["ETag"]).status_code == 304


def test_decks_skill_trees_and_images_are_listed_newest_first_and_only_the_workspaces(
    api_client, other_api_client, tenant, other_tenant
):
    for model, fields in [
        (Deck, {"title": "Tides"}),
        (SkillTree, {"name": "Tides"}),
        (
            GeneratedImage,
            {"prompt": "a fox", "file": "generations/fox.png", "width": 8, "height": 8},
        ),
    ]:
        older, newer = (model.objects.create(tenant=tenant, **fields) for _ in range(2))
        theirs = model.objects.create(tenant=other_tenant, **fields)
        collection = {Deck: "decks", SkillTree: "skill-trees", GeneratedImage: "images"}[model]
        listed = api_client.get(f"/api/v1/{collection}")
        assert listed.status_code == 200, listed.json()
        assert [row["id"] for row in listed.json()["results"]] == [newer.pk, older.pk]
        assert (
            listed.json()["results"][0] == api_client.get(f"/api/v1/{collection}/{newer.pk}").json()
        )
        assert [
            row["id"] for row in other_api_client.get(f"/api/v1/{collection}").json()["results"]
        ] == [theirs.pk]
        assert api_client.get(f"/api/v1/{collection}?title=Tides").status_code == 400


def test_a_generations_images_are_listed_by_its_job_in_the_order_made(api_client, tenant):
    submitted = api_client.post(
        "/api/v1/generations",
        {"kind": "image", "prompt": "a fox", "width": 64, "height": 64, "count": 2},
        format="json",
    ).json()
    job_execute(job_id=submitted["id"])
    GeneratedImage.objects.create(
        tenant=tenant, prompt="other", file="generations/o.png", width=8, height=8
    )
    result = api_client.get(f"/api/v1/generations/{submitted['id']}").json()["result"]
    listed = api_client.get(f"/api/v1/images?job={submitted['id']}").json()["results"]
    assert [image["id"] for image in listed] == result["imageIds"]
    assert [image["url"] for image in listed] == result["imageUrls"]
    assert api_client.get("/api/v1/images?job=nope").status_code == 400


@pytest.mark.parametrize(
    ("body", "collection", "result_id"),
    [
        ({"kind": "deck", "text": "# Tides\nThe moon pulls the sea."}, "decks", "deckId"),
        ({"kind": "skill_tree", "text": "# Tides\n- Moon\n- Sun"}, "skill-trees", "treeId"),
    ],
)
def test_a_generations_deck_or_tree_is_found_by_its_job_even_once_it_is_purged(
    api_client, other_api_client, settings, body, collection, result_id
):
    submitted = api_client.post("/api/v1/generations", body, format="json").json()
    job_execute(job_id=submitted["id"])
    other = api_client.post("/api/v1/generations", body, format="json").json()
    job_execute(job_id=other["id"])
    made = api_client.get(f"/api/v1/generations/{submitted['id']}").json()["result"][result_id]

    listed = api_client.get(f"/api/v1/{collection}?job={submitted['id']}").json()["results"]
    assert [(row["id"], row["job"]) for row in listed] == [(made, submitted["id"])]
    assert other_api_client.get(f"/api/v1/{collection}?job={submitted['id']}").json() == {
        "next": None,
        "previous": None,
        "results": [],
    }
    bad = api_client.get(f"/api/v1/{collection}?job=nope")
    assert (bad.status_code, bad.json()["errors"]) == (400, {"job": ["Must be a job id."]})

    finished = timezone.now() - timezone.timedelta(
        hours=settings.JOBS_RETENTION_COMPLETED_HOURS + 1
    )
    Job.objects.filter(pk__in=[submitted["id"], other["id"]]).update(finished_at=finished)
    assert jobs_purge()["deleted"] == 2
    listed = api_client.get(f"/api/v1/{collection}?job={submitted['id']}").json()["results"]
    assert [(row["id"], row["job"]) for row in listed] == [(made, None)]
