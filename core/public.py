"""What every public page (`/s/…` share links, `/v/…` signed view links) answers with: its own
headers and Content-Security-Policy, the one page of a link that does not open, and the one page
a chat app's preview of a link gets."""

import functools
import re
from collections.abc import Callable

from csp.decorators import csp_exempt
from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from core.clientip import client_limit_key
from core.errors import OUTAGES
from core.metrics import RATE_LIMIT_REJECTIONS, metric_inc
from core.middleware import outage_response
from core.ratelimit import Limit, rate_limit_hit

PUBLIC_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "private, no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'"
    ),
}

# The user agents of the apps that fetch a link pasted into a chat or a post to show its preview
# (Slack, Teams, Discord, Telegram, WhatsApp, iMessage, X, Facebook, LinkedIn, Mastodon…); not
# their in-app browsers, which are a reader's.
LINK_PREVIEWERS = re.compile(
    r"slackbot|skypeuripreview|discordbot|telegrambot|whatsapp/|facebookexternalhit|facebot|"
    r"twitterbot|linkedinbot|mastodon/|embedly|iframely|redditbot|pinterestbot|line-poker|"
    r"kakaotalk-scrap",
    re.I,
)


def public_page(view):
    """Every answer of a public page carries PUBLIC_HEADERS, but those the page sets itself (an
    artifact's page has its own policy), refusals (405, 429) and outages (503) included. A public page takes no input and acts for
    nobody, so CSRF has nothing to protect: without the exemption an unsafe method would get the
    CSRF failure page, not the page's own 405 with its headers. Its Content-Security-Policy is the
    only one: the site's (CSP_REPORT_ONLY) is not sent beside it."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            response = view(request, *args, **kwargs)
        except OUTAGES as exc:
            # Answered here rather than by the middleware, which would send the site's policy.
            response = outage_response(request, exc)
        for name, value in PUBLIC_HEADERS.items():
            response.setdefault(name, value)
        response["Referrer-Policy"] = "no-referrer"
        return response

    return csrf_exempt(csp_exempt(REPORT_ONLY=True)(wrapped))


def link_not_found(request) -> HttpResponse:
    """The one answer for a link that does not open: unknown, revoked, expired, used up or
    mistyped, share link and signed view link alike."""
    return render(request, "link_not_found.html", status=404)


public_link_not_found = public_page(link_not_found)


def link_preview(request, opens: Callable[[], bool]) -> HttpResponse | None:
    """The page an app's preview of a pasted link gets (share link, view link or image link alike),
    or None when the request is not one or `opens()` says the link does not open: a dead link is
    answered to a previewer as to everyone (its address's limit, then the 404 page), not unfurled
    as if it were live. The page shows nothing shared, which a chat would keep after the link
    expired or was withdrawn, and is the same for every link. A user agent is easily forged, so
    it reads no page or file and counts against no limit: a pool of previewers serving many
    workspaces is not refused, and a forged one gets no more than it."""
    if not LINK_PREVIEWERS.search(request.headers.get("User-Agent", "")):
        return None
    if not opens():
        return None
    return render(request, "sharelinks/preview.html")


def public_rate_limited(request, address: str) -> HttpResponse | None:
    """Count a request of a public page against its client address's limit, shared by every
    public page (SHARE_LINK_RATE_LIMIT_PER_MINUTE): the 429 page when it is spent, else None."""
    limit = Limit(
        "public",
        f"public:{client_limit_key(address)}",
        settings.SHARE_LINK_RATE_LIMIT_PER_MINUTE,
        60,
    )
    decision = rate_limit_hit([limit])
    if decision.allowed:
        return None
    metric_inc(RATE_LIMIT_REJECTIONS, limit="public")
    response = render(request, "sharelinks/too_many.html", status=429)
    response["Retry-After"] = str(max(decision.retry_after, 1))
    return response
