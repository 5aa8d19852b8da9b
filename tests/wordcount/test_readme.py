"""README's "Adding a job type" shows this app's code: each of its Python blocks, headed by the
path of the file it comes from, is that file whole (from a test module: one of its tests)."""

import re
from pathlib import Path

from tests.worker import ROOT

SECTION = "\n## Adding a job type\n"


def _blocks() -> list[tuple[str, str]]:
    section = (ROOT / "README.md").read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```python\n# (\S+)\n(.*?)^```$", section, re.DOTALL | re.MULTILINE)


def test_the_readme_shows_the_example_apps_code_as_it_is():
    blocks = _blocks()
    assert [path for path, _ in blocks] == [
        "tests/wordcount/models.py",
        "tests/wordcount/apps.py",
        "tests/wordcount/jobs.py",
        "tests/wordcount/test_word_count.py",
    ]
    for path, code in blocks:
        source = (ROOT / path).read_text()
        if Path(path).name.startswith("test_"):
            assert code in source, f"{path} holds no test as README shows it"
        else:
            assert code == source, f"README shows {path} otherwise than it is"
