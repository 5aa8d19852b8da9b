"""The generation job types: each asks the configured provider, then writes its artifacts and the
job's completion in one transaction, so that no half deck or half tree is ever visible."""

import io
import logging
import time
import unicodedata
import uuid
from functools import partial

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import ImageOps
from rest_framework import serializers

from core.validation import KnownFieldsOnly
from generations.images import DECODE_ERRORS, ImageTooLarge, image_open
from generations.models import (
    Block,
    Deck,
    Distractor,
    DrawnImage,
    Flashcard,
    GeneratedImage,
    SkillNode,
    SkillTree,
    Slide,
    Story,
)
from generations.providers import provider_get
from generations.schemas import OutputInvalid
from generations.signing import file_url, view_url
from generations.urlsafety import LookupLate, UnsafeUrl, image_fetch, public_addresses_by
from jobs.errors import JobLost, PermanentError
from jobs.registry import JobType
from jobs.rows import job_attempt_row

logger = logging.getLogger(__name__)

# Characters that show nothing by themselves: spaces and separators, controls and format
# characters (zero-width spaces and joiners, byte order marks, direction marks), marks that combine
# with a character before them, the Hangul fillers and the blank Braille pattern.
INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Mn", "Me"})
INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def has_visible_character(text: str) -> bool:
    return any(
        unicodedata.category(char) not in INVISIBLE_CATEGORIES and char not in INVISIBLE_LETTERS
        for char in text
    )


class VisibleText(serializers.CharField):
    """Text with at least one character a reader can see: made only of invisible ones, it is
    refused as blank, as whitespace alone is."""

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        if not has_visible_character(text):
            raise serializers.ValidationError("This field has no visible character.")
        return text


class SourceText(VisibleText):
    """Visible text up to GENERATION_MAX_INPUT_CHARS (read when validating, not at import)."""

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        limit = settings.GENERATION_MAX_INPUT_CHARS
        if len(text) > limit:
            raise serializers.ValidationError(f"At most {limit} characters ({len(text)} given).")
        return text


class DeckPayload(KnownFieldsOnly, serializers.Serializer):
    text = SourceText()
    title = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    max_slides = serializers.IntegerField(min_value=1, max_value=50, default=10)


class FlashcardPayload(KnownFieldsOnly, serializers.Serializer):
    text = SourceText()
    count = serializers.IntegerField(min_value=1, max_value=50, default=10)


class DistractorPayload(KnownFieldsOnly, serializers.Serializer):
    flashcard_id = serializers.IntegerField(min_value=1)
    count = serializers.IntegerField(min_value=1, max_value=10, default=3)

    def validate_flashcard_id(self, pk):
        if not Flashcard.objects.filter(pk=pk, tenant=self.context.get("tenant")).exists():
            raise serializers.ValidationError("No such flashcard in this workspace.")
        return pk


class SkillTreePayload(KnownFieldsOnly, serializers.Serializer):
    text = SourceText()
    name = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class StoryPayload(KnownFieldsOnly, serializers.Serializer):
    prompt = SourceText()
    characters = serializers.ListField(
        child=serializers.CharField(max_length=100), max_length=10, default=list
    )
    setting = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    genre = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    length = serializers.IntegerField(
        min_value=50, max_value=3000, default=300, help_text="Words, roughly."
    )


class ImagePayload(KnownFieldsOnly, serializers.Serializer):
    prompt = VisibleText(max_length=1000)
    width = serializers.IntegerField(min_value=64, max_value=1024, default=512)
    height = serializers.IntegerField(min_value=64, max_value=1024, default=512)
    count = serializers.IntegerField(min_value=1, max_value=4, default=1)


# How long a submit waits for a source URL's host to resolve before leaving the check to the worker.
SOURCE_LOOKUP_AT_SUBMIT_SECONDS = 2


class ImageEditPayload(KnownFieldsOnly, serializers.Serializer):
    prompt = VisibleText(max_length=1000)
    source_image_id = serializers.IntegerField(min_value=1, required=False)
    source_url = serializers.URLField(max_length=2000, required=False)

    def validate_source_image_id(self, pk):
        if not GeneratedImage.objects.filter(pk=pk, tenant=self.context.get("tenant")).exists():
            raise serializers.ValidationError("No such image in this workspace.")
        return pk

    def validate_source_url(self, url):
        try:
            public_addresses_by(url, time.monotonic() + SOURCE_LOOKUP_AT_SUBMIT_SECONDS)
        except LookupLate:
            # A name server slow to answer must not hold a web process: the worker looks the
            # name up again before it fetches, and refuses an internal address as this would.
            pass
        except UnsafeUrl as exc:
            logger.info("A source URL was refused at submit: %s", exc.reason)
            raise serializers.ValidationError(str(exc)) from exc
        return url

    def validate(self, attrs):
        if ("source_image_id" in attrs) == ("source_url" in attrs):
            raise serializers.ValidationError(
                {"source_image_id": ["Give either source_image_id or source_url."]}
            )
        return attrs


class ArtifactGone(PermanentError):
    """What a generation works on (its story, a card, a source image) was deleted meanwhile, in
    the admin: no attempt would find it again."""

    def __init__(self, what: str):
        super().__init__("NOT_FOUND", f"The {what} no longer exists.")


def deck_handle(ctx) -> dict:
    payload = ctx.payload
    ctx.progress(10, "writing the slides")
    output = provider_get().generate(
        "deck",
        {"text": payload["text"], "title": payload["title"], "max_slides": payload["max_slides"]},
    )
    ctx.progress(80, "saving the deck")
    with transaction.atomic():
        deck = Deck.objects.create(
            tenant_id=ctx.job.tenant_id,
            job=ctx.job,
            generation_id=ctx.job.pk,
            title=output["title"],
        )
        for position, content in enumerate(output["slides"][: payload["max_slides"]]):
            slide = Slide.objects.create(deck=deck, position=position, title=content["title"])
            Block.objects.bulk_create(
                Block(
                    slide=slide,
                    position=i,
                    kind=block["kind"],
                    text=block.get("text", ""),
                    items=block.get("items", []),
                )
                for i, block in enumerate(content["blocks"])
            )
        return ctx.complete({"deckId": deck.pk, "slideCount": deck.slides.count()})


def flashcard_handle(ctx) -> dict:
    ctx.progress(10, "writing the cards")
    output = provider_get().generate(
        "flashcards", {"text": ctx.payload["text"], "count": ctx.payload["count"]}
    )
    wanted = ctx.payload["count"]
    with transaction.atomic():
        cards = Flashcard.objects.bulk_create(
            Flashcard(tenant_id=ctx.job.tenant_id, job=ctx.job, generation_id=ctx.job.pk, **card)
            for card in output["cards"][:wanted]
        )
        if len(cards) < wanted:
            ctx.progress(100, f"{len(cards)} of {wanted} cards: the text holds no more")
        return ctx.complete({"flashcardIds": [card.pk for card in cards], "count": len(cards)})


def distractor_handle(ctx) -> dict:
    """Wrong answers for one card. They replace the card's earlier ones: a card shows one set of
    choices, however often its distractors are generated."""
    card = Flashcard.objects.filter(
        pk=ctx.payload["flashcard_id"], tenant_id=ctx.job.tenant_id
    ).first()
    if card is None:
        raise ArtifactGone("flashcard")
    ctx.progress(10, "writing the wrong answers")
    wanted = ctx.payload["count"]
    output = provider_get().generate(
        "distractors",
        {
            "question": card.question,
            "answer": card.answer,
            "context": _card_set_text(card),
            "count": wanted,
        },
    )
    distinct = {text.casefold(): text for text in output["distractors"]}
    distinct.pop(card.answer.strip().casefold(), None)
    wrong = list(distinct.values())[:wanted]
    if not wrong:
        raise OutputInvalid("no distractor other than the card's answer")
    with transaction.atomic():
        # Locked: two jobs for the same card replace its distractors one after the other.
        card = Flashcard.objects.select_for_update().filter(pk=card.pk).first()
        if card is None:
            raise ArtifactGone("flashcard")
        card.distractors.all().delete()
        Distractor.objects.bulk_create(
            Distractor(
                tenant_id=ctx.job.tenant_id, job=ctx.job, flashcard=card, text=text, position=i
            )
            for i, text in enumerate(wrong)
        )
        if len(wrong) < wanted:
            ctx.progress(100, f"{len(wrong)} of {wanted} distractors: the text holds no more")
        return ctx.complete({"distractors": wrong, "flashcardId": card.pk})


def _card_set_text(card: Flashcard) -> str:
    """The text the card was made from, as far as its set tells: the sources of every card its
    generation made, in order (the other terms of the text make the best wrong answers)."""
    if card.generation_id is None:
        return card.source
    sources = (
        Flashcard.objects.filter(tenant_id=card.tenant_id, generation_id=card.generation_id)
        .order_by("pk")
        .values_list("source", flat=True)
    )
    return " ".join(dict.fromkeys(source for source in sources if source))


def skill_tree_handle(ctx) -> dict:
    ctx.progress(10, "outlining")
    output = provider_get().generate(
        "skill_tree", {"text": ctx.payload["text"], "name": ctx.payload["name"]}
    )
    with transaction.atomic():
        tree = SkillTree.objects.create(
            tenant_id=ctx.job.tenant_id, job=ctx.job, generation_id=ctx.job.pk, name=output["name"]
        )
        count, depth = _nodes_write(tree, output["children"], parent=None, depth=1)
        tree.node_count, tree.depth = count, depth
        tree.save(update_fields=["node_count", "depth"])
        return ctx.complete({"treeId": tree.pk, "nodeCount": count, "depth": depth})


def _nodes_write(tree: SkillTree, children: list, *, parent, depth: int) -> tuple[int, int]:
    count, deepest = 0, depth - 1
    for position, child in enumerate(children):
        node = SkillNode.objects.create(
            tree=tree, parent=parent, name=child["name"], depth=depth, position=position
        )
        below, below_depth = _nodes_write(tree, child["children"], parent=node, depth=depth + 1)
        count += 1 + below
        deepest = max(deepest, depth, below_depth)
    return count, deepest


def story_create_at_submit(job) -> None:
    Story.objects.create(tenant_id=job.tenant_id, job=job, generation_id=job.pk, prompt=job.payload)


def story_handle(ctx) -> dict:
    story = Story.objects.filter(job=ctx.job).first()
    if story is None:
        raise ArtifactGone("story")
    started = time.monotonic()
    ctx.progress(10, "writing the story")
    output = provider_get().generate("story", dict(ctx.payload))
    words = len(output["text"].split())
    generation_time = round(time.monotonic() - started, 3)
    with transaction.atomic():
        # An update, not a save: a story deleted while it was written (in the admin) stays
        # deleted, where a save would insert it again.
        written = Story.objects.filter(pk=story.pk).update(
            title=output["title"],
            text=output["text"],
            words=words,
            generation_time=generation_time,
            status=Story.Status.READY,
            error="",
        )
        if not written:
            raise ArtifactGone("story")
        return ctx.complete(
            {"storyId": story.pk, "words": words, "generationTime": generation_time}
        )


def story_given_up(job) -> None:
    Story.objects.filter(job=job).update(
        status=Story.Status.FAILED, error=f"{job.error_code}: {job.error_message}"
    )


def story_requeued(job) -> None:
    Story.objects.filter(job=job).update(status=Story.Status.GENERATING, error="")


# Pillow modes a PNG can hold; an image in another mode is converted to RGB(A) first.
PNG_MODES = {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}
EXIF_ORIENTATION = 0x0112


def _png_checked(content: bytes) -> tuple[bytes, int, int]:
    """The image as a PNG, upright (a photo's EXIF orientation applied: a phone's portrait shot
    is stored sideways with a flag saying so), with its width and height."""
    try:
        with image_open(content) as image:
            image.load()
            turned = image.getexif().get(EXIF_ORIENTATION, 1) != 1
            if turned:
                image = ImageOps.exif_transpose(image)
            width, height = image.size
            if image.format != "PNG" or turned:
                if image.mode not in PNG_MODES:  # CMYK from print, YCbCr, LAB, floats
                    image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
                buffer = io.BytesIO()
                image.save(buffer, format="PNG")
                content = buffer.getvalue()
    except DECODE_ERRORS as exc:
        raise OutputInvalid(f"not an image ({exc})") from exc
    return content, width, height


def _images_save(ctx, kind: str, prompt: str, images: list[bytes], source=None) -> dict:
    """Files go to storage first (slow I/O, no transaction); the rows and completion together.
    When anything after the first file fails, the files saved so far are removed again: no row
    would ever point at them."""
    stored = []
    try:
        for content in images:
            png, width, height = _png_checked(content)
            name = default_storage.save(
                f"generations/{ctx.job.tenant_id}/{uuid.uuid4().hex}.png", ContentFile(png)
            )
            stored.append((name, width, height))
        with transaction.atomic():
            if source is not None:
                # Locked until this commits: an edit may not name a source deleted meanwhile (in
                # the admin), which the database would refuse only at the commit, as an
                # unexpected error.
                still = GeneratedImage.objects.select_for_update().filter(pk=source.pk)
                if not still.exists():
                    raise ArtifactGone("source image")
            rows = [
                GeneratedImage.objects.create(
                    tenant_id=ctx.job.tenant_id,
                    job=ctx.job,
                    generation_id=ctx.job.pk,
                    kind=kind,
                    prompt=prompt,
                    file=name,
                    width=width,
                    height=height,
                    source_image=source,
                )
                for name, width, height in stored
            ]
            return ctx.complete({"imageIds": [row.pk for row in rows]})
    except BaseException:
        for name, _, _ in stored:
            default_storage.delete(name)
        raise


def image_result_presented(job) -> dict:
    """An image job's result with a link to each image, made at each read as its `view_url` is.
    The web's link even with a bucket (the web serves a bucket's file too): it stays the same
    within a hundredth of its lifetime, so a poll in it still gets 304, where a presigned URL
    would differ at every read."""
    return {**job.result, "imageUrls": [file_url("image", pk) for pk in job.result["imageIds"]]}


def image_handle(ctx) -> dict:
    """Each image is stored as soon as it is drawn (a DrawnImage), so that an attempt that ends
    before the last (a provider error, every key resting, a worker stopped) leaves them to the
    next, which draws only the others: the provider bills each image it draws."""
    payload, count = ctx.payload, ctx.payload["count"]
    kept = set(DrawnImage.objects.filter(job=ctx.job).values_list("position", flat=True))

    def drawing(index: int) -> None:
        # The step first: a check for a cancel is a write too, and one made just before would
        # hold this step back until the next image, a whole drawing late.
        ctx.progress(10 + 80 * index // count, f"drawing image {index + 1} of {count}")
        ctx.check_canceled()

    provider_get().images(
        payload["prompt"],
        payload["width"],
        payload["height"],
        count,
        drawing,
        kept=kept,
        keep=partial(_image_keep, ctx),
    )
    return _images_drawn_save(ctx, payload["prompt"])


def _image_keep(ctx, position: int, content: bytes) -> None:
    """Store an image the moment it is drawn, for this attempt or the next. Its row is written
    only while this attempt still runs the job, the job's row locked meanwhile: a job that ended
    (canceled, failed) or was taken from this worker has its kept images deleted already, and
    one written after that would stay in the storage for good."""
    png, width, height = _png_checked(content)
    name = default_storage.save(
        f"generations/{ctx.job.tenant_id}/{uuid.uuid4().hex}.png", ContentFile(png)
    )
    try:
        with transaction.atomic():
            owned = job_attempt_row(ctx.job, ctx.attempt).select_for_update(no_key=True)
            if not owned.exists():
                raise JobLost()
            DrawnImage.objects.create(
                tenant_id=ctx.job.tenant_id,
                job=ctx.job,
                position=position,
                file=name,
                width=width,
                height=height,
            )
    except BaseException:
        default_storage.delete(name)
        raise


def _images_drawn_save(ctx, prompt: str) -> dict:
    """The job's drawn images become its GeneratedImages, in order, with the job's completion;
    their files stay where they are. Should the completion fail, the drawn images stay too: the
    next attempt completes with them, or the job's end deletes them."""
    with transaction.atomic():
        drawn = DrawnImage.objects.filter(job=ctx.job).order_by("position")
        rows = [
            GeneratedImage.objects.create(
                tenant_id=ctx.job.tenant_id,
                job=ctx.job,
                generation_id=ctx.job.pk,
                kind=GeneratedImage.Kind.GENERATION,
                prompt=prompt,
                file=image.file.name,
                width=image.width,
                height=image.height,
            )
            for image in drawn
        ]
        # The files are the images' now: the drawn rows go without them.
        drawn.update(file="")
        drawn.delete()
        return ctx.complete({"imageIds": [row.pk for row in rows]})


def images_drawn_discard(job) -> None:
    """A job that ends failed or canceled deletes the images it drew (their files once this
    commits); requeued, it draws them again."""
    DrawnImage.objects.filter(job=job).delete()


def image_edit_handle(ctx) -> dict:
    payload, source = ctx.payload, None
    if "source_image_id" in payload:
        source = GeneratedImage.objects.filter(
            pk=payload["source_image_id"], tenant_id=ctx.job.tenant_id
        ).first()
        if source is None:
            raise ArtifactGone("source image")
        with source.file.open("rb") as handle:
            original = handle.read()
    else:
        # A fetch may take up to GENERATION_HTTP_TIMEOUT: a poll meanwhile says what it waits for.
        ctx.progress(5, "fetching the source image")
        original = image_fetch(payload["source_url"])
    try:
        original, _, _ = _png_checked(original)
    except ImageTooLarge as exc:
        raise PermanentError(
            "INVALID_SOURCE", f"The source image is too large: {exc.detail}."
        ) from exc
    except OutputInvalid as exc:
        raise PermanentError("INVALID_SOURCE", "The source is not an image.") from exc
    ctx.progress(30, "editing")
    edited = provider_get().image_edit(original, payload["prompt"])
    return _images_save(ctx, GeneratedImage.Kind.EDIT, payload["prompt"], [edited], source=source)


def _view(kind: str, result_key: str):
    def view(job):
        value = (job.result or {}).get(result_key)
        return (
            view_url(kind, value if not isinstance(value, list) else str(job.pk)) if value else None
        )

    return view


GENERATION_TYPES = {
    "deck": JobType(
        name="deck_generation",
        handler=deck_handle,
        payload_serializer=DeckPayload,
        view_url=_view("deck", "deckId"),
    ),
    "flashcards": JobType(
        name="flashcard_generation",
        handler=flashcard_handle,
        payload_serializer=FlashcardPayload,
        view_url=_view("flashcards", "flashcardIds"),
    ),
    "distractors": JobType(
        name="distractor_generation",
        handler=distractor_handle,
        payload_serializer=DistractorPayload,
        view_url=_view("distractors", "flashcardId"),
    ),
    "skill_tree": JobType(
        name="skill_tree_generation",
        handler=skill_tree_handle,
        payload_serializer=SkillTreePayload,
        view_url=_view("skill_tree", "treeId"),
    ),
    "story": JobType(
        name="story_generation",
        handler=story_handle,
        payload_serializer=StoryPayload,
        max_attempts=3,
        max_concurrency=5,
        on_submit=story_create_at_submit,
        on_give_up=story_given_up,
        on_requeue=story_requeued,
        view_url=_view("story", "storyId"),
    ),
    "image": JobType(
        name="image_generation",
        handler=image_handle,
        payload_serializer=ImagePayload,
        on_give_up=images_drawn_discard,
        view_url=_view("images", "imageIds"),
        present_result=image_result_presented,
    ),
    "image_edit": JobType(
        name="image_edit",
        handler=image_edit_handle,
        payload_serializer=ImageEditPayload,
        view_url=_view("images", "imageIds"),
        present_result=image_result_presented,
    ),
}
KIND_OF_TYPE = {job_type.name: kind for kind, job_type in GENERATION_TYPES.items()}
