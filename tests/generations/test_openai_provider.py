"""The openai provider against a real HTTP server on loopback."""

import email.utils
import itertools
import json
import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.db.models import Q
from PIL import Image

from generations.models import GeneratedImage
from jobs.models import Job, JobEvent
from jobs.services import job_execute, job_submit
from tests.generations.fake_openai import CARDS, DECK, FakeOpenAI, chat_body
from tests.generations.png_headers import png_claiming
from tests.worker import running_worker, wait_for


@pytest.fixture
def fake_openai(settings):
    server = FakeOpenAI()
    settings.GENERATION_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = server.url
    settings.OPENAI_API_KEYS = ["key-one", "key-two"]
    settings.OPENAI_RPM = 1000
    settings.GENERATION_HTTP_TIMEOUT = 1.0
    yield server
    server.close()


def _flashcards(tenant):
    job = job_submit(
        tenant=tenant, type="flashcard_generation", payload={"text": "The moon pulls the tides."}
    )
    job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    return job


def test_a_model_answer_becomes_artifacts(fake_openai, tenant):
    fake_openai.default = ("json", DECK)
    job = job_submit(tenant=tenant, type="deck_generation", payload={"text": "Tides."})
    job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED, job.error_message
    assert job.result["slideCount"] == 1
    sent = json.loads(fake_openai.requests[0]["body"])
    assert sent["response_format"] == {"type": "json_object"}
    assert fake_openai.requests[0]["path"] == "/v1/chat/completions"


def test_a_429_on_one_key_rotates_to_the_next(fake_openai, tenant):
    fake_openai.script = [("status", 429)]
    job = _flashcards(tenant)
    assert job.status == Job.Status.COMPLETED
    keys = [request["key"] for request in fake_openai.requests]
    assert len(keys) == 2 and keys[0] != keys[1]
    # The key that answered 429 cools down: the next jobs use the other one.
    _flashcards(tenant)
    assert fake_openai.requests[-1]["key"] == keys[1]


def _run_until_finished(job: Job) -> Job:
    """Run each attempt the moment it is due, as a worker would, with the clock moved there."""
    job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    while job.status == Job.Status.PENDING:
        with time_machine.travel(job.next_retry_at + timedelta(milliseconds=5), tick=False):
            job_execute(job_id=str(job.pk))
        job.refresh_from_db()
    return job


def test_a_job_waits_for_a_key_resting_after_a_429_instead_of_failing(
    fake_openai, tenant, settings
):
    settings.OPENAI_API_KEYS = ["only-key"]
    fake_openai.script = [("status", 429)]  # with Retry-After: 60
    job = _run_until_finished(
        job_submit(tenant=tenant, type="flashcard_generation", payload={"text": "Tides."})
    )
    assert job.status == Job.Status.COMPLETED, job.error_message
    first, second = fake_openai.requests
    assert second["at"] - first["at"] >= 60
    waits = job.events.filter(kind=JobEvent.Kind.WAITING).values_list("message", flat=True)
    assert list(waits) == ["every openai API key rests after a 429 (Retry-After)"]


@pytest.mark.parametrize(
    ("retry_after", "rest"),
    [
        ("1e999", 3600),
        ("-1e999", 1),
        ("nan", 30),
        ("0", 1),
        # An HTTP date two minutes ahead: the key rests until then, counted from the 429.
        ("in 120 s", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1),
        ("soon", 30),
    ],
)
def test_a_429s_retry_after_is_read_within_bounds_whatever_it_says(
    fake_openai, tenant, settings, retry_after, rest
):
    settings.OPENAI_API_KEYS = ["only-key"]
    if retry_after == "in 120 s":
        retry_after = email.utils.formatdate(time.time() + 120, usegmt=True)
    fake_openai.retry_after = retry_after
    fake_openai.script = [("status", 429)]
    job = _run_until_finished(
        job_submit(tenant=tenant, type="flashcard_generation", payload={"text": "Tides."})
    )
    assert job.status == Job.Status.COMPLETED, job.error_message
    first, second = fake_openai.requests
    if rest is None:
        # The date counts whole seconds, and so does the rest it makes.
        rest = email.utils.parsedate_to_datetime(retry_after).timestamp() - first["at"] - 1
    assert rest <= second["at"] - first["at"] < rest + 30


def test_a_provider_that_keeps_answering_429_fails_the_job_after_its_attempts(
    fake_openai, tenant, settings
):
    settings.OPENAI_API_KEYS = ["only-key"]
    fake_openai.default = ("status", 429)
    job = _run_until_finished(
        job_submit(tenant=tenant, type="flashcard_generation", payload={"text": "Tides."})
    )
    assert (job.status, job.error_code) == (Job.Status.FAILED, "PROVIDER_RATE_LIMITED")
    # One request an attempt, each after the key's rest: never a request while it rests.
    sent = [request["at"] for request in fake_openai.requests]
    assert len(sent) == job.max_attempts == 3
    assert all(later - earlier >= 60 for earlier, later in itertools.pairwise(sent))


def test_a_server_error_is_retried(fake_openai, tenant):
    fake_openai.script = [("status", 500)]
    job = _flashcards(tenant)
    assert (job.status, job.error_code, job.attempts) == (Job.Status.PENDING, "PROVIDER_ERROR", 1)
    assert job.next_retry_at is not None


def test_malformed_json_is_a_model_error(fake_openai, tenant):
    fake_openai.default = ("raw", "here are your cards: {oops")
    job = _flashcards(tenant)
    assert (job.status, job.error_code) == (Job.Status.FAILED, "MODEL_ERROR")
    assert "not JSON" in job.error_message


@pytest.mark.parametrize("text", ['{"cards": [{"question": "What pulls', json.dumps(CARDS)])
def test_an_answer_cut_at_the_models_output_limit_fails_saying_so(fake_openai, tenant, text):
    answer = json.loads(chat_body(text))
    answer["choices"][0]["finish_reason"] = "length"
    fake_openai.default = ("body", answer)
    job = _flashcards(tenant)
    assert (job.status, job.error_code) == (Job.Status.FAILED, "MODEL_ERROR")
    assert "cut at the model's output limit (gpt-4o-mini)" in job.error_message
    assert len(fake_openai.requests) == 1


def test_output_of_the_wrong_shape_is_a_model_error(fake_openai, tenant):
    fake_openai.default = ("json", {"cards": [{"question": "", "answer": 3}]})
    assert _flashcards(tenant).error_code == "MODEL_ERROR"


@pytest.mark.parametrize(
    ("card", "problem"),
    [
        ({"question": "Why?\x00", "answer": "Tides."}, "cards[0].question contains a NUL"),
        ({"question": "Why?", "answer": "Tides.", "source": "p.\x001"}, "cards[0].source"),
        ({"question": "Why?", "answer": "Half a pair: \ud83c"}, "cards[0].answer is not valid"),
    ],
)
def test_text_the_database_cannot_store_is_a_model_error_at_once(
    fake_openai, tenant, card, problem
):
    fake_openai.default = ("json", {"cards": [card]})
    job = _flashcards(tenant)
    assert (job.status, job.error_code, job.attempts) == (Job.Status.FAILED, "MODEL_ERROR", 1)
    assert problem in job.error_message
    assert len(fake_openai.requests) == 1


def test_a_client_error_keeps_the_providers_message(fake_openai, tenant):
    fake_openai.script = [("status", 400)]
    job = _flashcards(tenant)
    assert (job.status, job.error_code) == (Job.Status.FAILED, "MODEL_ERROR")
    assert "scripted 400" in job.error_message


def test_a_timeout_is_retried(fake_openai, tenant):
    fake_openai.script = [("sleep", 2.0)]
    job = _flashcards(tenant)
    assert (job.status, job.error_code) == (Job.Status.PENDING, "PROVIDER_TIMEOUT")


def test_images_come_back_as_files(fake_openai, tenant):
    fake_openai.default = ("image", None)
    job = _image_job(tenant, "image_generation", {"prompt": "a fjord", "width": 64, "height": 64})
    assert len(job.result["imageIds"]) == 1


def _run(tenant, type, payload) -> Job:
    job = job_submit(tenant=tenant, type=type, payload=payload)
    job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    return job


def _image_job(tenant, type, payload) -> Job:
    job = _run(tenant, type, payload)
    assert job.status == Job.Status.COMPLETED, job.error_message
    return job


def test_gpt_image_models_are_asked_a_size_they_draw_and_the_image_has_the_size_asked(
    fake_openai, tenant, settings
):
    settings.OPENAI_IMAGE_MODEL = "gpt-image-1"
    fake_openai.default = ("image", None)
    job = _image_job(
        tenant, "image_generation", {"prompt": "a red fox", "width": 512, "height": 320}
    )
    sent = json.loads(fake_openai.requests[0]["body"])
    # OpenAI's GPT image models refuse `response_format` and draw 1024², 1536×1024 or 1024×1536.
    assert sent == {"model": "gpt-image-1", "prompt": "a red fox", "size": "1536x1024"}
    image = GeneratedImage.objects.get(pk=job.result["imageIds"][0])
    assert (image.width, image.height) == (512, 320)
    with image.file.open("rb") as handle:
        assert Image.open(handle).size == (512, 320)

    _image_job(tenant, "image_edit", {"prompt": "make it grey", "source_image_id": image.pk})
    edit = fake_openai.requests[1]
    assert edit["path"] == "/v1/images/edits"
    assert b'name="response_format"' not in edit["body"]


@pytest.mark.parametrize("size", [(5_000, 4_000), (20_000, 20_000)])
def test_an_image_of_more_pixels_than_the_limit_is_a_model_error_without_being_decoded(
    fake_openai, tenant, settings, size
):
    # 20,000² is past Pillow's own limit, which it enforces with an error of its own.
    settings.OPENAI_IMAGE_MODEL = "gpt-image-1"
    fake_openai.default = ("image", png_claiming(*size))
    job = _run(tenant, "image_generation", {"prompt": "a fjord", "width": 512, "height": 320})
    assert (job.status, job.error_code) == (Job.Status.FAILED, "MODEL_ERROR")
    assert "more than 16,000,000" in job.error_message
    assert not GeneratedImage.objects.exists()


def test_other_image_models_are_asked_the_size_asked_in_base64(fake_openai, tenant, settings):
    settings.OPENAI_IMAGE_MODEL = "sdxl-turbo"
    fake_openai.default = ("image", None)
    _image_job(tenant, "image_generation", {"prompt": "a red fox", "width": 64, "height": 64})
    sent = json.loads(fake_openai.requests[0]["body"])
    assert (sent["size"], sent["response_format"]) == ("64x64", "b64_json")


@pytest.mark.django_db(transaction=True)
def test_the_requests_per_minute_cap_holds_across_two_workers(fake_openai, tenant):
    env = {
        "GENERATION_PROVIDER": "openai",
        "OPENAI_BASE_URL": fake_openai.url,
        "OPENAI_API_KEYS": "key-one,key-two",
        "OPENAI_RPM": "3",
    }
    with running_worker(name="rpm1", extra_env=env), running_worker(name="rpm2", extra_env=env):
        jobs = [
            job_submit(
                tenant=tenant,
                type="flashcard_generation",
                payload={"text": f"Fact number {i} is true."},
            )
            for i in range(6)
        ]
        # Until each job has been tried: it either made its request or was handed back to wait.
        tried = Job.objects.filter(pk__in=[j.pk for j in jobs]).filter(
            Q(status=Job.Status.COMPLETED)
            | Q(status=Job.Status.PENDING, events__kind=JobEvent.Kind.WAITING)
        )
        wait_for(
            lambda: tried.distinct().count() == len(jobs),
            timeout=60,
            message="every job completed or waiting",
        )
    assert len(fake_openai.requests) == 3
    statuses = sorted(
        Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("status", "attempts")
    )
    assert statuses.count(("completed", 1)) == 3
    assert statuses.count(("pending", 0)) == 3


def test_a_corrupt_image_from_the_provider_is_a_model_error_at_once(fake_openai, tenant):
    import io

    png = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 120, 200)).save(png, format="PNG")
    broken = bytearray(png.getvalue())
    broken[broken.index(b"IDAT") + 3] = 0xBC  # one byte of a chunk's name
    fake_openai.default = ("image", bytes(broken))
    job = _run(tenant, "image_generation", {"prompt": "a fjord", "width": 64, "height": 64})
    assert (job.status, job.error_code, job.attempts) == (Job.Status.FAILED, "MODEL_ERROR", 1)
    assert "not an image" in job.error_message
    assert len(fake_openai.requests) == 1


def test_a_skill_tree_without_skills_is_a_model_error_and_costs_nothing(
    fake_openai, tenant, settings
):
    settings.JOB_CREDIT_COSTS = {"skill_tree_generation": 2}
    tenant.credit_balance = 10
    tenant.save()
    fake_openai.default = ("json", {"name": "Tides", "children": []})
    job = _run(tenant, "skill_tree_generation", {"text": "# Tides\n- The moon"})
    assert (job.status, job.error_code) == (Job.Status.FAILED, "MODEL_ERROR")
    assert "the tree has no skills" in job.error_message
    tenant.refresh_from_db()
    assert tenant.credit_balance == 10


def test_an_api_key_the_provider_quotes_back_never_reaches_the_workspace(fake_openai, tenant):
    from generations.models import Story

    def quoting_the_key(handler, action):
        body = json.dumps(
            {"error": {"message": f"Invalid key: {handler.headers['Authorization']}"}}
        ).encode()
        handler.send_response(401)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    fake_openai.answer = quoting_the_key
    job = _run(tenant, "story_generation", {"prompt": "A lighthouse"})
    assert (job.status, job.error_code) == (Job.Status.FAILED, "MODEL_ERROR")
    assert "Invalid key: Bearer [redacted]" in job.error_message
    texts = [job.error_message, Story.objects.get(job=job).error]
    texts += list(job.events.values_list("message", flat=True))
    assert not any("key-one" in text or "key-two" in text for text in texts), texts


def test_an_answer_sent_a_byte_at_a_time_times_out_within_the_http_timeout(fake_openai, tenant):
    body = chat_body(json.dumps(CARDS))
    given_up, sent_all = threading.Event(), threading.Event()

    def trickling(handler, action):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        try:
            for at in range(len(body)):
                if given_up.is_set():
                    return
                handler.wfile.write(body[at : at + 1])
                handler.wfile.flush()
                time.sleep(0.05)
        except OSError:
            return
        sent_all.set()

    fake_openai.answer = trickling
    try:
        job = _flashcards(tenant)
        # GENERATION_HTTP_TIMEOUT is 1 s here; the whole answer takes several.
        assert not sent_all.is_set()
    finally:
        given_up.set()
    assert (job.status, job.error_code) == (Job.Status.PENDING, "PROVIDER_TIMEOUT")


def _images(tenant, count: int) -> Job:
    payload = {"prompt": "a fjord", "width": 64, "height": 64, "count": count}
    return job_submit(tenant=tenant, type="image_generation", payload=payload)


def test_a_jobs_images_wait_together_for_room_under_the_cap(fake_openai, tenant, settings):
    from core.ratelimit import Limit, rate_limit_hit

    settings.OPENAI_RPM = 4
    fake_openai.default = ("image", None)
    for _ in range(2):
        assert rate_limit_hit([Limit("provider", "provider:openai:rpm", 4, 60)]).allowed
    job = _images(tenant, 3)

    job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    # Two requests are left this minute: none is made, rather than two images thrown away.
    assert (job.status, job.attempts) == (Job.Status.PENDING, 0)
    assert fake_openai.requests == []
    job = _run_until_finished(job)
    assert job.status == Job.Status.COMPLETED, job.error_message
    assert len(job.result["imageIds"]) == 3
    assert len(fake_openai.requests) == 3


def test_more_images_than_the_cap_allows_a_minute_fail_at_once(fake_openai, tenant, settings):
    settings.OPENAI_RPM = 2
    settings.JOB_CREDIT_COSTS = {"image_generation": 3}
    tenant.credit_balance = 10
    tenant.save()
    job = _images(tenant, 3)
    job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Job.Status.FAILED, "PROVIDER_RATE_LIMITED")
    assert "3 requests at once are more than the 2 a minute openai allows" in job.error_message
    assert fake_openai.requests == []
    tenant.refresh_from_db()
    assert tenant.credit_balance == 10


def test_a_reservation_ends_with_the_minute_its_requests_were_counted_in(fake_openai, settings):
    from generations.providers.openai import OpenAIProvider
    from jobs.errors import WaitForCapacity

    settings.OPENAI_RPM = 4
    fake_openai.default = ("image", None)
    with time_machine.travel(1_900_000_000, tick=False) as clock:
        start = time.time()

        def slow_drawing(index):
            # Each image takes 30 s; another worker fills the next minute as soon as it starts.
            clock.move_to(start + 30 * index + (1 if index == 2 else 0))
            if index == 2:
                fake_openai.default = ("json", CARDS)
                for _ in range(4):
                    OpenAIProvider()._generate("flashcards", {"text": "Tides.", "count": 1})
                fake_openai.default = ("image", None)

        with pytest.raises(WaitForCapacity):
            OpenAIProvider().images("a fjord", 64, 64, 4, slow_drawing)
    drawn = [r for r in fake_openai.requests if r["path"].endswith("/images/generations")]
    # Two images in the first minute; the third would have been a fifth request in the next.
    assert len(drawn) == 2 and len(fake_openai.requests) == 6


def _only_proxy(monkeypatch, name: str, url: str) -> None:
    for other in ("NO_PROXY", "ALL_PROXY", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(other, raising=False)
        monkeypatch.delenv(other.lower(), raising=False)
    monkeypatch.setenv(name, url)


def test_provider_calls_go_through_the_proxy_the_environment_names(
    fake_openai, tenant, settings, monkeypatch
):
    _only_proxy(monkeypatch, "HTTP_PROXY", fake_openai.url.removesuffix("/v1"))
    settings.OPENAI_BASE_URL = "http://openai.upstream.invalid/v1"
    assert _flashcards(tenant).status == Job.Status.COMPLETED
    # The proxy was asked for the upstream URL, in absolute form.
    assert fake_openai.requests[0]["path"] == "http://openai.upstream.invalid/v1/chat/completions"


def test_https_provider_calls_tunnel_through_the_https_proxy(
    fake_openai, tenant, settings, monkeypatch
):
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    asked = []

    def proxy():
        peer, _ = listener.accept()
        asked.append(peer.recv(4096).split(b"\r\n")[0])
        peer.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        peer.close()

    threading.Thread(target=proxy, daemon=True).start()
    _only_proxy(monkeypatch, "HTTPS_PROXY", f"http://127.0.0.1:{listener.getsockname()[1]}")
    settings.OPENAI_BASE_URL = "https://api.openai.invalid/v1"
    job = _flashcards(tenant)
    listener.close()
    assert (job.status, job.error_code) == (Job.Status.PENDING, "PROVIDER_UNAVAILABLE")
    assert asked == [b"CONNECT api.openai.invalid:443 HTTP/1.1"]


def test_a_host_no_proxy_names_is_reached_directly(fake_openai, tenant, monkeypatch):
    _only_proxy(monkeypatch, "HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert _flashcards(tenant).status == Job.Status.COMPLETED


def test_a_proxy_named_without_a_scheme_is_taken_as_http(
    fake_openai, tenant, settings, monkeypatch
):
    _only_proxy(
        monkeypatch, "HTTP_PROXY", fake_openai.url.removesuffix("/v1").removeprefix("http://")
    )
    settings.OPENAI_BASE_URL = "http://openai.upstream.invalid/v1"
    assert _flashcards(tenant).status == Job.Status.COMPLETED
    assert fake_openai.requests[0]["path"] == "http://openai.upstream.invalid/v1/chat/completions"


def test_a_host_and_port_no_proxy_names_is_reached_directly(fake_openai, tenant, monkeypatch):
    _only_proxy(monkeypatch, "HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    port = fake_openai.url.removesuffix("/v1").rsplit(":", 1)[1]
    monkeypatch.setenv("NO_PROXY", f"127.0.0.1:{port}")
    assert _flashcards(tenant).status == Job.Status.COMPLETED
