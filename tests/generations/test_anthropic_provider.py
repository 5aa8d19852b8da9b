"""The Anthropic provider against a scripted Messages API on loopback."""

import json

import pytest

from generations.models import Deck
from jobs.models import Job
from jobs.services import job_execute, job_submit
from tests.generations.fake_openai import DECK, FakeOpenAI, message_body


@pytest.fixture
def fake_anthropic(settings):
    server = FakeOpenAI()
    settings.GENERATION_PROVIDER = "anthropic"
    settings.ANTHROPIC_BASE_URL = server.url.removesuffix("/v1")
    settings.ANTHROPIC_API_KEYS = ["key-one"]
    settings.ANTHROPIC_RPM = 1000
    settings.GENERATION_HTTP_TIMEOUT = 1.0
    yield server
    server.close()


def _deck(tenant) -> Job:
    job = job_submit(tenant=tenant, type="deck_generation", payload={"text": "Tides."})
    job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    return job


def test_a_model_answer_becomes_a_deck(fake_anthropic, tenant):
    fake_anthropic.default = ("json", DECK)
    job = _deck(tenant)
    assert job.status == Job.Status.COMPLETED, job.error_message
    assert Deck.objects.get(tenant=tenant).title == "Tides"
    request = fake_anthropic.requests[0]
    assert request["path"] == "/v1/messages"
    assert request["headers"]["x-api-key"] == "key-one"
    sent = json.loads(request["body"])
    assert sent["model"] and sent["system"]
    assert json.loads(sent["messages"][0]["content"])["task"] == "deck"


@pytest.mark.parametrize("text", ['{"title": "Tides", "slides": [{"title": "Wh', json.dumps(DECK)])
def test_an_answer_cut_at_max_tokens_fails_saying_so(fake_anthropic, tenant, settings, text):
    settings.ANTHROPIC_MAX_TOKENS = 300
    answer = json.loads(message_body(text))
    fake_anthropic.default = ("body", {**answer, "stop_reason": "max_tokens"})
    job = _deck(tenant)
    assert (job.status, job.error_code) == (Job.Status.FAILED, "MODEL_ERROR")
    assert "cut at the model's output limit (ANTHROPIC_MAX_TOKENS=300)" in job.error_message
    assert json.loads(fake_anthropic.requests[0]["body"])["max_tokens"] == 300
    assert not Deck.objects.filter(tenant=tenant).exists()


@pytest.mark.parametrize(
    "answer",
    [
        {"content": ["a bare string where a content block belongs"]},
        {"content": [{"type": "text", "text": 7}]},
        {"content": "text"},
        {"no": "content"},
    ],
)
def test_an_answer_not_shaped_like_messages_fails_the_job_as_the_models_error(
    fake_anthropic, tenant, answer
):
    fake_anthropic.default = ("body", answer)
    job = _deck(tenant)
    while job.status == Job.Status.PENDING:  # a model's error may be tried again, and again
        Job.objects.filter(pk=job.pk).update(next_retry_at=None)
        job_execute(job_id=str(job.pk))
        job.refresh_from_db()
    assert (job.status, job.error_code) == (Job.Status.FAILED, "MODEL_ERROR")
    assert not Deck.objects.filter(tenant=tenant).exists()


@pytest.mark.parametrize(
    "fenced",
    ["```json\n{deck}\n```", "```\n{deck}\n```", "  ```JSON {deck} ```\n"],
)
def test_a_json_answer_in_a_code_fence_becomes_a_deck(fake_anthropic, tenant, fenced):
    fake_anthropic.default = ("raw", fenced.format(deck=json.dumps(DECK)))
    job = _deck(tenant)
    assert job.status == Job.Status.COMPLETED, job.error_message
    assert Deck.objects.get(tenant=tenant).title == "Tides"
