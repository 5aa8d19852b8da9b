from csp.decorators import csp_exempt
from django.http import Http404

from generations.pages import artifact_page, image_file_response
from generations.signing import view_token_read


# The page's own Content-Security-Policy is the only one: the site's (CSP_REPORT_ONLY) is not sent
# beside it.
@csp_exempt(REPORT_ONLY=True)
def generation_view(request, token):
    """A signed, expiring link to an artifact's page (no login)."""
    decoded = view_token_read(token)
    if decoded is None:
        raise Http404
    return artifact_page(request, *decoded)


def generation_file(request, token):
    decoded = view_token_read(token)
    if decoded is None or decoded[0] != "image":
        raise Http404
    return image_file_response(decoded[1])
