"""Settings read from the environment in the forms the README and .env.example document."""

import json
import os
import subprocess
import sys

import pytest

from tests.worker import ROOT

PRINT_SETTINGS = (
    "import django, json; django.setup(); from django.conf import settings;"
    " print(json.dumps({name: getattr(settings, name) for name in"
    " ['JOB_CREDIT_COSTS', 'JOBS_MAX_CONCURRENCY', 'JOBS_MAX_CONCURRENCY_PER_TENANT',"
    " 'JOBS_TIME_LIMITS']}))"
)


def _start(**env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DEBUG": "true",
            **env,
        },
        capture_output=True,
        text=True,
    )


def test_per_type_settings_take_the_documented_comma_separated_form():
    started = _start(
        JOB_CREDIT_COSTS="story_generation=5,deck_generation=2",
        JOBS_MAX_CONCURRENCY="story_generation=5,image_generation=2",
        JOBS_MAX_CONCURRENCY_PER_TENANT="image_generation=1",
        JOBS_TIME_LIMITS="invoice_pdf=120, image_generation = 300, ",
    )
    assert started.returncode == 0, started.stderr[-2000:]
    assert json.loads(started.stdout) == {
        "JOB_CREDIT_COSTS": {"story_generation": 5, "deck_generation": 2},
        "JOBS_MAX_CONCURRENCY": {"story_generation": 5, "image_generation": 2},
        "JOBS_MAX_CONCURRENCY_PER_TENANT": {"story_generation": 2, "image_generation": 1},
        "JOBS_TIME_LIMITS": {"invoice_pdf": 120, "image_generation": 300},
    }


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("JOB_CREDIT_COSTS", "story_generation=five", "'story_generation=five' is not"),
        ("JOB_CREDIT_COSTS", "story_generation", "'story_generation' is not"),
        ("JOBS_MAX_CONCURRENCY", "=3", "'=3' is not"),
        ("JOB_CREDIT_COSTS", "story_generation=-5", "story_generation must be at least 0"),
        ("JOBS_TIME_LIMITS", "invoice_pdf=0", "invoice_pdf must be at least 1"),
    ],
)
def test_a_per_type_setting_that_is_not_a_count_stops_start_up_naming_it(name, value, error):
    started = _start(**{name: value})
    assert started.returncode != 0
    assert f"ImproperlyConfigured: {name}: {error}" in started.stderr
