"""Links that grant access by themselves — share links (/s/…) and signed artifact views (/v/…) —
never reach a log line, however their path is percent-encoded (a server decodes `/s%2F…` and
`/%73/…` to `/s/…` before routing, and an access log writes the request as it came)."""

import re

_SLASH = r"(?:/|%2[fF])"
# A path that starts with /s/ or /v/: at the start of a text, after a space, a quote or `=`, or after
# a URL's host.
SECRET_URL_PATH = re.compile(
    rf"(^|[\s\"'=]|https?://[^/\s\"']+){_SLASH}([sv]|%7[36]){_SLASH}(?:(?!{_SLASH})[^\s?\"'])+"
)
_LETTERS = {"%73": "s", "%76": "v"}


def redact(text: str) -> str:
    return SECRET_URL_PATH.sub(
        lambda match: f"{match[1]}/{_LETTERS.get(match[2], match[2])}/[redacted]", text
    )
