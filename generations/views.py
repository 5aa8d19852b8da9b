from django.http import Http404

from core.public import link_not_found, public_page
from generations.pages import artifact_page, image_file_response
from generations.signing import view_token_read


@public_page
def generation_view(request, token):
    """A signed, expiring link to an artifact's page (no login)."""
    decoded = view_token_read(token)
    if decoded is None:
        return link_not_found(request)
    try:
        return artifact_page(request, *decoded)
    except Http404:
        return link_not_found(request)


@public_page
def generation_file(request, token):
    decoded = view_token_read(token)
    if decoded is None or decoded[0] != "image":
        return link_not_found(request)
    try:
        return image_file_response(decoded[1])
    except Http404:
        return link_not_found(request)
