"""What can be shared, how to find it in a workspace, and how its public page looks."""

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Count, Model
from django.http import Http404

from core.errors import Conflict
from generations.models import Deck, Flashcard, GeneratedImage, SkillTree, Story
from generations.pages import artifact_page
from invoices.models import Invoice
from invoices.services import invoice_pdf_response


@dataclass(frozen=True)
class Shareable:
    # find(tenant, resource_id) -> the id as stored ("01" is "1"), or None: not in the workspace.
    # Raises Conflict when the resource exists but cannot be shared yet.
    find: Callable
    render: Callable  # render(request, link) -> HttpResponse
    # The model of the rows shared; gone(row), once a row is deleted, is the id of the resource
    # that went with it, or None if the resource is still there (a set outlives all but its last).
    model: type[Model]
    gone: Callable = lambda row: str(row.pk)
    # ending(rows), before rows of the model are deleted: the (workspace id, resource id) of each
    # resource that would go with them.
    ending: Callable = lambda rows: {(row.tenant_id, str(row.pk)) for row in rows}


def _owned(model, render, *, ready=None, not_ready="") -> Shareable:
    """A resource found by id in the workspace; `ready(obj)` says whether it can be shared in its
    state."""

    def find(tenant, resource_id) -> str | None:
        if not (str(resource_id).isascii() and str(resource_id).isdigit()):
            return None
        pk = int(resource_id)
        obj = model.objects.filter(pk=pk, tenant=tenant).first()
        if obj is None:
            return None
        if ready is not None and not ready(obj):
            raise Conflict(not_ready.format(name=model._meta.verbose_name, pk=pk, obj=obj))
        return str(pk)

    return Shareable(find, render, model)


def _page(kind: str):
    def render(request, link):
        return artifact_page(
            request, kind, int(link.resource_id), tenant_id=link.tenant_id, inline_images=True
        )

    return render


def _flashcard_set_find(tenant, resource_id) -> str | None:
    generation_id = _uuid_or_none(resource_id)
    if generation_id is None:
        return None
    found = Flashcard.objects.filter(generation_id=generation_id, tenant=tenant).exists()
    return str(generation_id) if found else None


def _uuid_or_none(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _flashcard_set_gone(card: Flashcard) -> str | None:
    rest = Flashcard.objects.filter(generation_id=card.generation_id, tenant_id=card.tenant_id)
    return None if rest.exists() else str(card.generation_id)


def _flashcard_sets_ending(cards) -> set[tuple[int, str]]:
    going = Counter((card.tenant_id, card.generation_id) for card in cards if card.generation_id)
    sets = (
        Flashcard.objects.filter(generation_id__in={generation for _, generation in going})
        .values_list("tenant_id", "generation_id")
        .annotate(cards=Count("pk"))
    )
    return {
        (tenant_id, str(generation_id))
        for tenant_id, generation_id, cards in sets
        if going[tenant_id, generation_id] == cards
    }


def _flashcard_set(request, link):
    return artifact_page(request, "flashcards", link.resource_id, tenant_id=link.tenant_id)


def _invoice_pdf(request, link):
    invoice = Invoice.objects.filter(pk=link.resource_id, tenant_id=link.tenant_id).first()
    if invoice is None:
        raise Http404
    return invoice_pdf_response(invoice)


SHAREABLES = {
    "deck": _owned(Deck, _page("deck")),
    "story": _owned(
        Story,
        _page("story"),
        ready=lambda story: story.status == Story.Status.READY,
        not_ready="Story {pk} is {obj.status}: only a ready story can be shared.",
    ),
    "skill_tree": _owned(SkillTree, _page("skill_tree")),
    "image": _owned(GeneratedImage, _page("image")),
    "flashcard_set": Shareable(
        _flashcard_set_find,
        _flashcard_set,
        Flashcard,
        gone=_flashcard_set_gone,
        ending=_flashcard_sets_ending,
    ),
    "invoice_pdf": _owned(
        Invoice,
        _invoice_pdf,
        ready=lambda invoice: bool(invoice.pdf_file),
        not_ready="Invoice {pk} has no PDF yet: share it once its PDF is rendered.",
    ),
}
