"""What can be shared, how to find it in a workspace, and how its public page looks."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.http import Http404

from generations.models import Deck, Flashcard, GeneratedImage, SkillTree, Story
from generations.pages import artifact_page
from invoices.models import Invoice
from invoices.services import invoice_pdf_response


@dataclass(frozen=True)
class Shareable:
    # find(tenant, resource_id) -> the id as stored ("01" is "1"), or None: not in the workspace.
    find: Callable
    render: Callable  # render(request, link) -> HttpResponse


def _owned(model, **extra):
    def find(tenant, resource_id) -> str | None:
        if not (str(resource_id).isascii() and str(resource_id).isdigit()):
            return None
        pk = int(resource_id)
        return str(pk) if model.objects.filter(pk=pk, tenant=tenant, **extra).exists() else None

    return find


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


def _flashcard_set(request, link):
    return artifact_page(request, "flashcards", link.resource_id, tenant_id=link.tenant_id)


def _invoice_pdf(request, link):
    invoice = Invoice.objects.filter(pk=link.resource_id, tenant_id=link.tenant_id).first()
    if invoice is None:
        raise Http404
    return invoice_pdf_response(invoice)


SHAREABLES = {
    "deck": Shareable(_owned(Deck), _page("deck")),
    "story": Shareable(_owned(Story, status=Story.Status.READY), _page("story")),
    "skill_tree": Shareable(_owned(SkillTree), _page("skill_tree")),
    "image": Shareable(_owned(GeneratedImage), _page("image")),
    "flashcard_set": Shareable(_flashcard_set_find, _flashcard_set),
    "invoice_pdf": Shareable(_owned(Invoice, pdf_file__gt=""), _invoice_pdf),
}
