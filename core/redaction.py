"""Links that grant access by themselves — share links (/s/…) and signed artifact views (/v/…) —
never reach a log line, however their path is percent-encoded (a server decodes `/s%2F…` and
`/%73/…` to `/s/…` before routing, and an access log writes the request as it came). Nor do API
keys, nor what staff paste into the search of the admin's key and link lists (a leaked key, link
or token, found there by its hash), which the admin carries on in its links' query strings."""

import re

_SLASH = r"(?:/|%2[fF])"
# A path that starts with /s/ or /v/: at the start of a text, after a space, a quote or `=`, or after
# a URL's host, the URL written out or percent-encoded in a query string.
SECRET_URL_PATH = re.compile(
    rf"(^|[\s\"'=]|https?://[^/\s\"']+|https?%3[aA]%2[fF]%2[fF][^/\s\"'&]+?)"
    rf"{_SLASH}([sv]|%7[36]){_SLASH}(?:(?!{_SLASH})[^\s?&\"'])+"
)
_LETTERS = {"%73": "s", "%76": "v"}
# A whole key: its scheme and stored prefix (8 characters, shown in the admin) stay readable.
API_KEY = re.compile(r"(ofl_[A-Za-z0-9_-]{8})[A-Za-z0-9_-]{12,}")
# Any query string of the admin's key and link lists and of their objects' pages; what was searched
# on any other admin page, and the search an admin page carries on to the next.
SEARCHED_ADMIN_QUERY = re.compile(
    r"(/admin/(?:accounts/apikey|sharelinks/publiclink)(?:/[^\s?\"']*)?\?)[^\s\"'#]+"
)
ADMIN_SEARCH = re.compile(
    r"(/admin/[^\s?\"']*\?(?:[^\s\"'#]*?&)?(?:q|_changelist_filters)=)[^&\s\"'#]+"
)


def redact(text: str) -> str:
    text = SECRET_URL_PATH.sub(
        lambda match: f"{match[1]}/{_LETTERS.get(match[2], match[2])}/[redacted]", text
    )
    text = SEARCHED_ADMIN_QUERY.sub(r"\1[redacted]", text)
    text = ADMIN_SEARCH.sub(r"\1[redacted]", text)
    return API_KEY.sub(r"\1[redacted]", text)
