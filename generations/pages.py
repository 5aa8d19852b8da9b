"""Server-rendered pages of the artifacts: the deck viewer, the story, the flashcards, the skill tree
and the images. Signed view links and public share links both render through here."""

import base64
import hashlib
import logging

from django.http import FileResponse, Http404
from django.shortcuts import render

from accounts.models import Tenant
from generations.models import Deck, Flashcard, GeneratedImage, SkillTree, Story
from generations.signing import file_path

logger = logging.getLogger(__name__)

PAGE_HEADERS = {
    # Scripts and styles from the site's own files only: these pages show a workspace's text (and a
    # model's) on the admin's origin, where an inline script would act for any staff user reading.
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "private, no-store",
}


def _deck(pk):
    deck = Deck.objects.filter(pk=pk).prefetch_related("slides__blocks").first()
    return deck and (
        "generations/deck.html",
        {"deck": deck, "slides": list(deck.slides.all())},
        deck.tenant_id,
    )


def _story(pk):
    story = Story.objects.filter(pk=pk, status=Story.Status.READY).first()
    return story and (
        "generations/story.html",
        {"story": story, "paragraphs": story.text.split("\n\n")},
        story.tenant_id,
    )


def _flashcards(job_pk):
    cards = list(Flashcard.objects.filter(generation_id=job_pk).order_by("pk"))
    return cards and (
        "generations/flashcards.html",
        {"cards": cards, "title": "Flashcards"},
        cards[0].tenant_id,
    )


def _distractors(card_pk):
    card = Flashcard.objects.filter(pk=card_pk).prefetch_related("distractors").first()
    return card and (
        "generations/flashcards.html",
        {"cards": [card], "title": "Question", "choices": _choices(card)},
        card.tenant_id,
    )


def _choices(card: Flashcard) -> list[str]:
    """The answer among the distractors, at a place that gives nothing away yet stays the same on
    every visit: the choices ordered by a hash of the card and the choice."""
    texts = [card.answer, *(distractor.text for distractor in card.distractors.all())]
    return sorted(texts, key=lambda text: hashlib.sha256(f"{card.pk}:{text}".encode()).digest())


def _skill_tree(pk):
    tree = SkillTree.objects.filter(pk=pk).first()
    if tree is None:
        return None
    children = {}
    for node in tree.nodes.order_by("depth", "position"):
        children.setdefault(node.parent_id, []).append(node)
    return (
        "generations/skill_tree.html",
        {"tree": tree, "roots": _nested(children, None)},
        tree.tenant_id,
    )


def _nested(children: dict, parent_id) -> list[dict]:
    return [
        {"node": node, "children": _nested(children, node.pk)}
        for node in children.get(parent_id, [])
    ]


def _images(job_pk):
    images = list(GeneratedImage.objects.filter(generation_id=job_pk).order_by("pk"))
    return images and (
        "generations/images.html",
        {"images": [{"image": image, "src": file_path("image", image.pk)} for image in images]},
        images[0].tenant_id,
    )


def _image(pk):
    image = GeneratedImage.objects.filter(pk=pk).first()
    return image and (
        "generations/images.html",
        {"images": [{"image": image, "src": file_path("image", image.pk)}]},
        image.tenant_id,
    )


PAGES = {
    "deck": _deck,
    "story": _story,
    "flashcards": _flashcards,
    "distractors": _distractors,
    "skill_tree": _skill_tree,
    "images": _images,
    "image": _image,
}


def artifact_page(request, kind: str, pk: int, *, tenant_id=None, inline_images=False):
    """The page of one artifact, or Http404. With `tenant_id`, only that workspace's. With
    `inline_images`, images are embedded in the page rather than linked (public pages whose
    links must not expire)."""
    found = PAGES[kind](pk) if kind in PAGES else None
    if not found:
        raise Http404
    template, context, owner = found
    if (tenant_id is not None and owner != tenant_id) or not _publishes(owner):
        raise Http404
    if inline_images:
        for entry in context.get("images", []):
            with entry["image"].file.open("rb") as handle:
                entry["src"] = "data:image/png;base64," + base64.b64encode(handle.read()).decode()
    response = render(request, template, context)
    for header, value in PAGE_HEADERS.items():
        response[header] = value
    return response


# The rows each page is read from, as PAGES finds them: whether any is of an active workspace is
# whether the page opens.
PAGE_ROWS = {
    "deck": lambda pk: Deck.objects.filter(pk=pk),
    "story": lambda pk: Story.objects.filter(pk=pk, status=Story.Status.READY),
    "flashcards": lambda job_pk: Flashcard.objects.filter(generation_id=job_pk),
    "distractors": lambda card_pk: Flashcard.objects.filter(pk=card_pk),
    "skill_tree": lambda pk: SkillTree.objects.filter(pk=pk),
    "images": lambda job_pk: GeneratedImage.objects.filter(generation_id=job_pk),
    "image": lambda pk: GeneratedImage.objects.filter(pk=pk),
}


def artifact_published(kind: str, pk: int) -> bool:
    """Whether the page of one artifact opens, in one query that reads none of its content (a
    deck's slides, a set's cards): what a link preview, counted against no limit, asks."""
    rows = PAGE_ROWS.get(kind)
    return rows is not None and rows(pk).filter(tenant__is_active=True).exists()


def _publishes(tenant_id) -> bool:
    """A suspended (inactive) workspace's artifacts are shown to no one, whatever link is held."""
    return Tenant.objects.filter(pk=tenant_id, is_active=True).exists()


def image_published(pk: int) -> bool:
    """Whether an image's file link opens (its row, of an active workspace), without reading the
    file."""
    return _published_image(pk) is not None


def _published_image(pk: int, *, tenant_id=None) -> GeneratedImage | None:
    image = GeneratedImage.objects.filter(pk=pk).first()
    if image is None or (tenant_id is not None and image.tenant_id != tenant_id):
        return None
    return image if _publishes(image.tenant_id) else None


def image_file_response(pk: int, *, tenant_id=None):
    image = _published_image(pk, tenant_id=tenant_id)
    if image is None:
        raise Http404
    try:
        handle = image.file.open("rb")
    except FileNotFoundError as exc:
        # The row outlived its file (deleted from the storage, a lost volume): its link answers
        # like an unknown one.
        logger.error("Image %s has no file in the storage: %s", image.pk, exc)
        raise Http404 from exc
    response = FileResponse(handle, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
