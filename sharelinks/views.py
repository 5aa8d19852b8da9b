import logging

from django.db import transaction
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_safe

from core.clientip import client_ip
from core.public import link_not_found, link_preview, public_page, public_rate_limited
from sharelinks.resources import SHAREABLES
from sharelinks.services import share_link_find, share_link_view

logger = logging.getLogger(__name__)

# Browsers fetch a page before it is opened (a link hovered, an address pasted); the request says so.
PREFETCH_HEADERS = ("Sec-Purpose", "Purpose", "X-Purpose", "X-Moz")


def _is_prefetch(request) -> bool:
    purpose = " ".join(request.headers.get(name, "") for name in PREFETCH_HEADERS).lower()
    return "prefetch" in purpose or "prerender" in purpose or "preview" in purpose


@public_page
@require_safe
def share_link_page(request, token: str):
    if _is_prefetch(request):
        # Not a view: a one-view link must still open when its reader clicks it. An error, never
        # stored, so the browser asks again when the page is really opened; expected, so not
        # logged as a server error.
        refused = HttpResponse(status=503, headers={"Retry-After": "0"})
        refused._has_been_logged = True
        return refused
    preview = link_preview(request, lambda: share_link_find(token=token) is not None)
    if preview is not None:
        # Not its reader either: no view is counted.
        return preview
    address = client_ip(request)
    refused = public_rate_limited(request, address)
    if refused is not None:
        return refused
    try:
        with transaction.atomic():
            link = _link_opened(request, token, address)
            if link is None:
                return link_not_found(request)
            response = SHAREABLES[link.resource_type].render(request, link)
    except Http404:
        return link_not_found(request)
    except FileNotFoundError as exc:
        # The row outlived its file (deleted from the storage, a lost volume). The view counted
        # above was rolled back with the transaction.
        logger.error(
            "Share link %s: %s %s has no file in the storage: %s",
            link.pk,
            link.resource_type,
            link.resource_id,
            exc,
        )
        return link_not_found(request)
    return response


def _link_opened(request, token: str, address: str):
    if request.method == "HEAD":
        # A link checker's, a monitor's or curl -I's: answered as the page would be (the server
        # sends no body), but not a view, so a one-view link still opens for its reader.
        return share_link_find(token=token)
    return share_link_view(
        token=token, client_ip=address, user_agent=request.headers.get("User-Agent", "")
    )


@require_safe
def robots_txt(request):
    return HttpResponse(
        "User-agent: *\nDisallow: /s/\nDisallow: /v/\nDisallow: /api/\nDisallow: /admin/\n",
        content_type="text/plain",
    )
