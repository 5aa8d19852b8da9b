"""Links that grant access by themselves — share links (/s/…) and signed artifact views (/v/…) —
never reach a log line."""

import re

# A path that starts with /s/ or /v/: at the start of a text, after a space or quote, or after a
# URL's host.
SECRET_URL_PATH = re.compile(r"(^|[\s\"'=]|https?://[^/\s\"']+)/([sv])/[^/\s?\"']+")


def redact(text: str) -> str:
    return SECRET_URL_PATH.sub(r"\1/\2/[redacted]", text)
