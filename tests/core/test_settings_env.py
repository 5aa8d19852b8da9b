"""Settings read from the environment in the forms the README and .env.example document."""

import json
import os
import subprocess
import sys

import pytest

from tests.worker import ROOT, manage

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
        ("NUM_PROXIES", "abc", "'abc' is not a whole number"),
        ("NUM_PROXIES", "-1", "'-1' must be 0 or more"),
        ("JOBS_STALE_AFTER_SECONDS", "0", "'0' must be 1 or more"),
        ("SHARE_LINK_CLEANUP_BATCH", "0", "'0' must be 1 or more"),
        ("RATE_LIMIT_WRITES_PER_MINUTE", "0", "'0' must be 1 or more"),
        ("GENERATION_MAX_INPUT_CHARS", "0", "'0' must be 1 or more"),
        ("CONN_MAX_AGE", "1.5", "'1.5' is not a whole number"),
        ("REDIS_SOCKET_TIMEOUT", "5s", "'5s' is not a number"),
        ("GENERATION_HTTP_TIMEOUT", "nan", "'nan' is not a number"),
        ("OPS_PDF_FAILURE_RATE", "1e999", "'1e999' is not a number"),
        ("DEBUG", "maybe", "'maybe' is not true or false"),
        ("LOG_FORMAT", "xml", "'xml' is not one of text, json"),
        ("GENERATION_PROVIDER", "OpenAI", "'OpenAI' is not one of offline, openai, anthropic"),
        ("METRICS_ALLOWED_IPS", "127.0.0.1,prometheus", "'prometheus' does not appear to be"),
        ("DATABASE_URL", "mysql://u:p@127.0.0.1:3306/db", "django.db.backends.mysql is not"),
        ("DATABASE_URL", "notaurl", "'notaurl' is not a database URL"),
        ("REDIS_URL", "notaurl", "'notaurl' is not a Redis URL"),
        ("REDIS_URL", "http://user:secret@cache:6379", "'http://user:***@cache:6379' is not a"),
        ("REDIS_SOCKET_TIMEOUT", "0", "'0' must be 0.1 or more"),
        ("CELERY_BROKER_URL", "notaurl", "'notaurl' is not a broker URL kombu knows"),
        ("EMAIL_URL", "bogus://x", "'bogus://x' is not an email URL"),
    ],
)
def test_a_malformed_setting_stops_start_up_naming_it(name, value, error):
    started = _start(**{name: value})
    assert started.returncode != 0
    assert f"ImproperlyConfigured: {name}: {error}" in started.stderr, started.stderr[-600:]


def test_numbers_and_booleans_in_their_documented_forms_are_read():
    started = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s;"
            " print(s.NUM_PROXIES, s.REDIS_SOCKET_TIMEOUT, s.SECURE_SSL_REDIRECT, s.DEBUG)",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DEBUG": "True",
            "NUM_PROXIES": " 2 ",
            "REDIS_SOCKET_TIMEOUT": "2.5",
            "SECURE_SSL_REDIRECT": "off",
        },
        capture_output=True,
        text=True,
    )
    assert started.stdout.split() == ["2", "2.5", "False", "True"], started.stderr[-2000:]


def test_a_bucket_never_overwrites_an_object_as_the_filesystem_never_does():
    started = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.core.files.storage import storages;"
            " s = storages['default']; print(type(s).__name__, s.bucket_name, s.file_overwrite)",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DEBUG": "true",
            "AWS_STORAGE_BUCKET_NAME": "offload-media",
        },
        capture_output=True,
        text=True,
    )
    assert started.stdout.split() == ["S3Storage", "offload-media", "False"], started.stderr


def _manage(*args, **env) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env}
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    return manage(*args, env=environment)


def test_a_malformed_setting_stops_a_command_with_one_line_naming_it(tmp_path):
    stopped = _manage("check", DEBUG="true", NUM_PROXIES="abc")
    assert stopped.returncode == 1
    assert stopped.stderr == "Offload cannot start: NUM_PROXIES: 'abc' is not a whole number.\n"
    # Read beside no .env: `make run` writes one with a SECRET_KEY into the checkout.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    missing = _manage("check", DEBUG="false", SECRET_KEY="", ENV_FILE=str(empty))
    assert missing.stderr == "Offload cannot start: SECRET_KEY must be set when DEBUG is off.\n"
    nowhere = _manage("check", ENV_FILE=str(tmp_path / "missing.env"))
    assert (
        nowhere.stderr
        == f"Offload cannot start: ENV_FILE: '{tmp_path}/missing.env' is not a file.\n"
    )


def test_a_variable_left_empty_in_the_shell_takes_the_env_files_value(tmp_path):
    env_file = tmp_path / "offload.env"
    env_file.write_text("DEBUG=false\nSECRET_KEY=from-the-file-0123456789\nNUM_PROXIES=2\n")
    shown = _manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s; print(s.SECRET_KEY, s.NUM_PROXIES)",
        ENV_FILE=str(env_file),
        DEBUG="",
        SECRET_KEY="",
    )
    assert shown.stdout.split() == ["from-the-file-0123456789", "2"], shown.stderr[-2000:]


def test_earlier_secret_keys_are_read_as_a_list_for_a_rotation():
    shown = _manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s; print(*s.SECRET_KEY_FALLBACKS)",
        DEBUG="true",
        SECRET_KEY_FALLBACKS="old-one,old-two",
    )
    assert shown.stdout.split() == ["old-one", "old-two"], shown.stderr[-2000:]
