"""`.env.example` lists every variable the settings read, as the README says it does."""

import re

from tests.worker import ROOT

# env("NAME", ...), env.int("NAME", ...), env.list(\n    "NAME", ...) and the like.
READ = re.compile(r'\benv(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"')
# NAME=value, or a commented example: # NAME=value
LISTED = re.compile(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def test_env_example_lists_every_variable_the_settings_read():
    read = set(READ.findall((ROOT / "config" / "settings" / "base.py").read_text()))
    listed = set(LISTED.findall((ROOT / ".env.example").read_text()))
    assert "IDEMPOTENCY_IN_FLIGHT_SECONDS" in read
    assert read - listed == set()
