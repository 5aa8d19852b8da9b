from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.clientip import client_ip
from core.metrics import RATE_LIMIT_REJECTIONS, metric_inc
from core.ratelimit import Limit, rate_limit_hit
from sharelinks.resources import SHAREABLES
from sharelinks.services import share_link_view

PUBLIC_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "private, no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}


def _page(request, template: str, status: int, headers: dict | None = None) -> HttpResponse:
    response = render(request, template, status=status)
    for name, value in {**PUBLIC_HEADERS, **(headers or {})}.items():
        response[name] = value
    return response


def not_found(request) -> HttpResponse:
    """The one answer for unknown, revoked, expired and used-up links alike."""
    return _page(request, "sharelinks/not_found.html", 404)


@require_GET
def share_link_page(request, token: str):
    address = client_ip(request)
    decision = rate_limit_hit(
        [Limit("public", f"public:{address}", settings.SHARE_LINK_RATE_LIMIT_PER_MINUTE, 60)]
    )
    if not decision.allowed:
        metric_inc(RATE_LIMIT_REJECTIONS, limit="public")
        return _page(
            request,
            "sharelinks/too_many.html",
            429,
            {"Retry-After": str(max(decision.retry_after, 1))},
        )
    try:
        with transaction.atomic():
            link = share_link_view(
                token=token, client_ip=address, user_agent=request.headers.get("User-Agent", "")
            )
            if link is None:
                return not_found(request)
            response = SHAREABLES[link.resource_type].render(request, link)
    except Http404:
        return not_found(request)
    for name, value in PUBLIC_HEADERS.items():
        response.setdefault(name, value)
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_GET
def robots_txt(request):
    return HttpResponse(
        "User-agent: *\nDisallow: /s/\nDisallow: /v/\nDisallow: /api/\nDisallow: /admin/\n",
        content_type="text/plain",
    )
