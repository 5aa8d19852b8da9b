from urllib.parse import quote

from django.http import Http404, HttpResponsePermanentRedirect
from django.views.decorators.http import require_safe

from core.clientip import client_ip
from core.public import link_not_found, link_preview, public_page, public_rate_limited
from generations.pages import (
    artifact_page,
    artifact_published,
    image_file_response,
    image_published,
)
from generations.signing import view_token_read


@public_page
@require_safe
def generation_view(request, token):
    """A signed, expiring link to an artifact's page (no login)."""
    preview = link_preview(request, lambda: _page_opens(token))
    if preview is not None:
        return preview
    refused = public_rate_limited(request, client_ip(request))
    if refused is not None:
        return refused
    decoded = view_token_read(token)
    if decoded is None:
        return link_not_found(request)
    try:
        return artifact_page(request, *decoded)
    except Http404:
        return link_not_found(request)


@public_page
@require_safe
def generation_file(request, token):
    preview = link_preview(request, lambda: _file_opens(token))
    if preview is not None:
        # The preview page, never the image: the user agent alone must not spare a file's read
        # the address's limit.
        return preview
    refused = public_rate_limited(request, client_ip(request))
    if refused is not None:
        return refused
    decoded = view_token_read(token)
    if decoded is None or decoded[0] != "image":
        return link_not_found(request)
    try:
        return image_file_response(decoded[1])
    except Http404:
        return link_not_found(request)


def _page_opens(token) -> bool:
    decoded = view_token_read(token)
    return decoded is not None and artifact_published(*decoded)


def _file_opens(token) -> bool:
    decoded = view_token_read(token)
    return decoded is not None and decoded[0] == "image" and image_published(decoded[1])


@public_page
@require_safe
def generation_view_slashed(request, token):
    """A view link pasted without its trailing slash: to its page, with the public pages' headers
    (the redirect Django's APPEND_SLASH would send carries the site's)."""
    return HttpResponsePermanentRedirect(f"/v/{quote(token, safe=':')}/")
