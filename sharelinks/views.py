import logging

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.clientip import client_ip, client_limit_key
from core.metrics import RATE_LIMIT_REJECTIONS, metric_inc
from core.public import link_not_found, public_page
from core.ratelimit import Limit, rate_limit_hit
from sharelinks.resources import SHAREABLES
from sharelinks.services import link_previewer, share_link_view

logger = logging.getLogger(__name__)

# Browsers fetch a page before it is opened (a link hovered, an address pasted); the request says so.
PREFETCH_HEADERS = ("Sec-Purpose", "Purpose", "X-Purpose", "X-Moz")


def _is_prefetch(request) -> bool:
    purpose = " ".join(request.headers.get(name, "") for name in PREFETCH_HEADERS).lower()
    return "prefetch" in purpose or "prerender" in purpose or "preview" in purpose


@public_page
@require_GET
def share_link_page(request, token: str):
    if _is_prefetch(request):
        # Not a view: a one-view link must still open when its reader clicks it. An error, never
        # stored, so the browser asks again when the page is really opened; expected, so not
        # logged as a server error.
        refused = HttpResponse(status=503, headers={"Retry-After": "0"})
        refused._has_been_logged = True
        return refused
    if link_previewer(request.headers.get("User-Agent", "")):
        # Not its reader either: the preview shows nothing shared and counts no view, and being
        # the same for every token it says nothing of the link.
        return render(request, "sharelinks/preview.html")
    address = client_ip(request)
    decision = rate_limit_hit(
        [
            Limit(
                "public",
                f"public:{client_limit_key(address)}",
                settings.SHARE_LINK_RATE_LIMIT_PER_MINUTE,
                60,
            )
        ]
    )
    if not decision.allowed:
        metric_inc(RATE_LIMIT_REJECTIONS, limit="public")
        response = render(request, "sharelinks/too_many.html", status=429)
        response["Retry-After"] = str(max(decision.retry_after, 1))
        return response
    try:
        with transaction.atomic():
            link = share_link_view(
                token=token, client_ip=address, user_agent=request.headers.get("User-Agent", "")
            )
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


@require_GET
def robots_txt(request):
    return HttpResponse(
        "User-agent: *\nDisallow: /s/\nDisallow: /v/\nDisallow: /api/\nDisallow: /admin/\n",
        content_type="text/plain",
    )
