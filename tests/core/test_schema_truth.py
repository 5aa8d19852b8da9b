"""Every /api/v1 operation, called for real, answers as the published OpenAPI schema says: its
status, its body, its nullable fields and the headers clients act on (tests/openapi.py)."""

import io
from datetime import timedelta

import pytest
import redis
from django.core.management import call_command
from django.utils import timezone
from pypdf import PdfReader
from rest_framework.test import APIClient

import core.throttling
from accounts.api import views as accounts_views
from accounts.api.serializers import MeSerializer
from accounts.models import CreditEntry
from accounts.services import notify_admins
from budgets.models import BudgetAlert, Project
from budgets.services import budget_alert_check
from core.errors import Conflict
from core.models import IdempotencyRecord
from core.ratelimit import Decision
from generations.models import Deck, Flashcard, GeneratedImage, SkillTree, Story
from generations.providers.offline import OfflineProvider
from jobs.errors import PermanentError
from jobs.models import Job
from jobs.services import job_execute
from tests.budgets.factories import ProjectFactory, hours, material
from tests.invoices.factories import ClientFactory, InvoiceFactory, line
from tests.jobs.factories import JobFactory
from tests.openapi import SchemaAudit, published_schema, request_body_errors

MISSING = "00000000-0000-0000-0000-000000000000"
DIAGNOSTIC = {"type": "diagnostic", "payload": {"steps": 0, "step_seconds": 0}}
GENERATIONS = {
    "deck": {"kind": "deck", "text": "Tides rise and fall. The moon pulls the sea. " * 5},
    "flashcards": {"kind": "flashcards", "text": "Ribosomes build proteins. " * 5, "count": 2},
    "story": {"kind": "story", "prompt": "a storm at sea"},
    "skill_tree": {"kind": "skill_tree", "text": "- Tides\n  - Moon\n- Currents"},
    "image": {"kind": "image", "prompt": "a fox", "width": 64, "height": 64},
}


@pytest.fixture
def audit():
    return SchemaAudit()


def _post(client, url, body=None, **headers):
    return client.post(url, body if body is not None else {}, format="json", **headers)


def _key_client(**credentials) -> APIClient:
    client = APIClient()
    client.credentials(**credentials)
    return client


# ---------------------------------------------------------------- the audit itself


def test_the_audit_reports_every_way_a_response_drifts_from_the_schema(
    api_client, monkeypatch, audit
):
    class MeWithAnExtraField(MeSerializer):
        def to_representation(self, instance):
            return {**super().to_representation(instance), "surprise": None}

    monkeypatch.setattr(accounts_views, "MeSerializer", MeWithAnExtraField)
    audit(api_client.get("/api/v1/me"), 200)
    real_headers = Decision.headers
    monkeypatch.setattr(
        Decision,
        "headers",
        lambda decision: {**real_headers(decision), "X-RateLimit-Reset": "soon"},
    )
    audit(api_client.get("/api/v1/jobs"), 200)
    monkeypatch.setattr(Decision, "headers", lambda decision: {"Location": "/elsewhere"})
    audit(api_client.get("/api/v1/jobs"), 200)

    def conflicted(*args, **kwargs):
        raise Conflict("Not today.")

    monkeypatch.setattr(accounts_views, "MeSerializer", conflicted)
    audit(api_client.get("/api/v1/me"), 409)

    assert audit.drift == [
        "GET /api/v1/me -> 200: body at <root>: Additional properties are not allowed "
        "('surprise' was unexpected)",
        "GET /api/v1/jobs -> 200: header X-RateLimit-Reset='soon' is not an integer",
        "GET /api/v1/jobs -> 200: required header RateLimit missing",
        "GET /api/v1/jobs -> 200: required header RateLimit-Policy missing",
        "GET /api/v1/jobs -> 200: required header X-RateLimit-Limit missing",
        "GET /api/v1/jobs -> 200: required header X-RateLimit-Remaining missing",
        "GET /api/v1/jobs -> 200: required header X-RateLimit-Reset missing",
        "GET /api/v1/jobs -> 200: header Location sent but not documented",
        "GET /api/v1/me -> 409: status not documented (documented: "
        "['200', '400', '401', '403', '406', '429', '503'])",
    ]


# ---------------------------------------------------------------- accounts


def test_me_answers_as_documented_with_either_key_header(tenant, api_key, audit):
    audit(_key_client(HTTP_AUTHORIZATION=f"Bearer {api_key}").get("/api/v1/me"), 200)
    audit(_key_client(HTTP_X_API_KEY=api_key).get("/api/v1/me"), 200)
    audit(_key_client().get("/api/v1/me"), 401)
    audit(_key_client(HTTP_AUTHORIZATION="Bearer nope").get("/api/v1/me"), 401)
    # An Accept it cannot answer, on any operation.
    audit(_key_client(HTTP_X_API_KEY=api_key).get("/api/v1/me", HTTP_ACCEPT="text/html"), 406)
    assert audit.drift == []


def test_each_key_header_alone_is_a_documented_security_alternative():
    for path, operations in published_schema()["paths"].items():
        for method, operation in operations.items():
            requirements = operation["security"]
            assert {"bearerAuth": []} in requirements, (method, path)
            assert {"apiKeyHeader": []} in requirements, (method, path)


def test_api_keys_answer_as_documented(api_client, member_api_client, audit):
    keys = "/api/v1/api-keys"
    created = audit(_post(api_client, keys, {"name": "ci", "expires_in_days": 5}), 201)
    key_id = created.json()["id"]
    audit(_post(api_client, keys, {"role": "owner"}), 400)
    audit(_post(member_api_client, keys, {"name": "x"}), 403)
    audit(api_client.get(keys), 200)
    audit(api_client.get(keys, {"cursor": "garbage"}), 400)
    audit(member_api_client.get(keys), 403)
    audit(api_client.get(f"{keys}/{key_id}"), 200)
    audit(api_client.get(f"{keys}/999999"), 404)
    audit(api_client.delete(f"{keys}/{key_id}"), 200)
    revoked = audit(api_client.get(f"{keys}/{key_id}"), 200)
    audit(api_client.delete(f"{keys}/999999"), 404)
    assert audit.drift == []
    assert revoked.json()["revoked_at"] is not None


def test_an_idempotent_api_key_replay_answers_as_documented_with_a_null_key(api_client, audit):
    keys = "/api/v1/api-keys"
    first = audit(_post(api_client, keys, {"name": "k"}, HTTP_IDEMPOTENCY_KEY="a1"), 201)
    replay = audit(_post(api_client, keys, {"name": "k"}, HTTP_IDEMPOTENCY_KEY="a1"), 201)
    audit(_post(api_client, keys, {"name": "other"}, HTTP_IDEMPOTENCY_KEY="a1"), 422)
    audit(_post(api_client, keys, {"name": "k"}, HTTP_IDEMPOTENCY_KEY="\x01"), 400)
    assert audit.drift == []
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"] and replay.json()["key"] is None


def test_the_credit_ledger_and_the_audit_log_answer_as_documented(
    api_client, member_api_client, tenant, settings, audit
):
    settings.JOB_CREDIT_COSTS = {"diagnostic": 3}
    job = audit(_post(api_client, "/api/v1/jobs", DIAGNOSTIC), 202).json()
    _post(api_client, "/api/v1/api-keys", {"name": "audited"})
    entries, events = "/api/v1/credit-entries", "/api/v1/audit-events"
    ledger = audit(api_client.get(entries), 200)
    audit(api_client.get(entries, {"job": job["id"]}), 200)
    audit(api_client.get(entries, {"kind": "bogus"}), 400)
    audit(api_client.get(entries, {"job": "not-a-uuid"}), 400)
    log = audit(api_client.get(events), 200)
    audit(api_client.get(events, {"action": "explode"}), 400)
    audit(member_api_client.get(events), 403)
    assert audit.drift == []
    assert [entry["kind"] for entry in ledger.json()["results"]] == [CreditEntry.Kind.DEBIT]
    assert log.json()["results"]


def test_notifications_answer_as_documented(
    api_client, member_api_client, tenant, tenant_admin, audit
):
    (notification,) = notify_admins(tenant=tenant, kind="storage_full", title="Storage full")
    notifications = "/api/v1/notifications"
    audit(api_client.get(notifications), 200)
    audit(api_client.get(notifications, {"status": "open", "kind": "storage_full"}), 200)
    audit(api_client.get(notifications, {"status": "closed"}), 400)
    audit(api_client.get(notifications, {"kind": "bogus"}), 400)
    audit(api_client.get(f"{notifications}/{notification.pk}"), 200)
    audit(api_client.get(f"{notifications}/999999"), 404)
    audit(member_api_client.get(notifications), 403)
    audit(member_api_client.get(f"{notifications}/{notification.pk}"), 403)
    assert audit.drift == []


# ---------------------------------------------------------------- jobs


def test_submitting_and_polling_a_job_answers_as_documented(api_client, audit):
    submitted = audit(_post(api_client, "/api/v1/jobs", DIAGNOSTIC), 202)
    job_url = f"/api/v1/jobs/{submitted.json()['id']}"
    polled = audit(api_client.get(job_url), 200)
    unchanged = audit(api_client.get(job_url, HTTP_IF_NONE_MATCH=polled["ETag"]), 304)
    audit(api_client.get(f"/api/v1/jobs/{MISSING}"), 404)
    job_execute(job_id=submitted.json()["id"])
    finished = audit(api_client.get(job_url), 200)
    audit(api_client.get("/api/v1/jobs"), 200)
    audit(
        api_client.get("/api/v1/jobs", {"status": "completed", "ids": finished.json()["id"]}), 200
    )
    audit(api_client.get("/api/v1/jobs", {"status": "bogus"}), 400)
    audit(api_client.get("/api/v1/jobs", {"ids": "nope"}), 400)
    audit(api_client.get(f"{job_url}/events"), 200)
    audit(api_client.get(f"/api/v1/jobs/{MISSING}/events"), 404)
    assert audit.drift == []
    assert submitted["Location"].endswith(job_url)
    assert (unchanged["ETag"], unchanged.content) == (polled["ETag"], b"")
    assert "Retry-After" in polled and "Retry-After" not in finished


def test_each_job_types_submission_is_documented_with_its_payload(api_client):
    deck = {"type": "deck_generation", "payload": {"text": GENERATIONS["deck"]["text"]}}
    for body in [DIAGNOSTIC, {"type": "diagnostic"}, deck]:
        assert request_body_errors("POST", "/api/v1/jobs", body) == [], body
        assert _post(api_client, "/api/v1/jobs", body).status_code == 202, body
    refused = [
        {"type": "poem"},
        {"type": "deck_generation"},
        {"type": "deck_generation", "payload": {"txt": "Tides rise."}},
        {"type": "invoice_pdf", "payload": {"invoice_id": 1}},
    ]
    for body in refused:
        assert request_body_errors("POST", "/api/v1/jobs", body), body
        assert _post(api_client, "/api/v1/jobs", body).status_code == 400, body


def test_a_failed_job_its_events_and_its_retry_answer_as_documented(api_client, tenant, audit):
    job = JobFactory(tenant=tenant, payload={"steps": 0, "step_seconds": 0, "fail_attempts": 9})
    Job.objects.filter(pk=job.pk).update(max_attempts=1)
    job_execute(job_id=str(job.pk))
    failed = audit(api_client.get(f"/api/v1/jobs/{job.pk}"), 200)
    audit(api_client.get(f"/api/v1/jobs/{job.pk}/events"), 200)
    retried = audit(_post(api_client, f"/api/v1/jobs/{job.pk}/retry"), 202)
    assert audit.drift == []
    assert failed.json()["status"] == Job.Status.FAILED
    assert retried.json()["retry_of"] == str(job.pk)


def test_refused_submissions_answer_as_documented(api_client, settings, audit):
    audit(_post(api_client, "/api/v1/jobs", {"type": "nope"}), 400)
    audit(_post(api_client, "/api/v1/jobs", {"type": "diagnostic", "payload": {"steps": -1}}), 400)
    settings.JOB_CREDIT_COSTS = {"diagnostic": 1000}
    broke = audit(_post(api_client, "/api/v1/jobs", DIAGNOSTIC), 402)
    settings.JOB_CREDIT_COSTS = {}
    settings.RATE_LIMIT_PER_MINUTE = 2
    audit(_post(api_client, "/api/v1/jobs", DIAGNOSTIC), 202)
    limited = audit(_post(api_client, "/api/v1/jobs", DIAGNOSTIC), 429)
    assert audit.drift == []
    assert broke.json()["code"] == "INSUFFICIENT_CREDITS" and "RateLimit" in broke
    assert limited.json()["code"] == "RATE_LIMITED" and int(limited["Retry-After"]) >= 1


def test_an_idempotent_job_submission_answers_as_documented(api_client, tenant, audit):
    first = audit(_post(api_client, "/api/v1/jobs", DIAGNOSTIC, HTTP_IDEMPOTENCY_KEY="j1"), 202)
    replay = audit(_post(api_client, "/api/v1/jobs", DIAGNOSTIC, HTTP_IDEMPOTENCY_KEY="j1"), 202)
    other = {"type": "diagnostic", "payload": {"steps": 1}}
    audit(_post(api_client, "/api/v1/jobs", other, HTTP_IDEMPOTENCY_KEY="j1"), 422)
    IdempotencyRecord.objects.create(
        tenant=tenant,
        key="busy",
        fingerprint=IdempotencyRecord.objects.get(key="j1").fingerprint,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    audit(_post(api_client, "/api/v1/jobs", DIAGNOSTIC, HTTP_IDEMPOTENCY_KEY="busy"), 409)
    assert audit.drift == []
    assert replay["Idempotent-Replayed"] == "true" and "RateLimit" not in replay
    assert (replay.json()["id"], replay["ETag"]) == (first.json()["id"], first["ETag"])


def test_cancel_and_retry_answer_as_documented(api_client, tenant, settings, audit):
    pending = JobFactory(tenant=tenant)
    processing = JobFactory(tenant=tenant, status="processing", started_at=timezone.now())
    audit(_post(api_client, f"/api/v1/jobs/{pending.pk}/cancel"), 200)
    audit(_post(api_client, f"/api/v1/jobs/{pending.pk}/cancel"), 409)
    audit(_post(api_client, f"/api/v1/jobs/{processing.pk}/cancel"), 202)
    audit(_post(api_client, f"/api/v1/jobs/{MISSING}/cancel"), 404)
    audit(_post(api_client, f"/api/v1/jobs/{pending.pk}/retry"), 202)
    audit(_post(api_client, f"/api/v1/jobs/{processing.pk}/retry"), 409)
    audit(_post(api_client, f"/api/v1/jobs/{MISSING}/retry"), 404)
    settings.JOB_CREDIT_COSTS = {"diagnostic": 1000}
    audit(_post(api_client, f"/api/v1/jobs/{pending.pk}/retry"), 402)
    assert audit.drift == []


def test_queue_stats_answer_as_documented(api_client, member_api_client, tenant, audit):
    JobFactory(tenant=tenant)
    audit(api_client.get("/api/v1/queue/stats"), 200)
    audit(member_api_client.get("/api/v1/queue/stats"), 403)
    assert audit.drift == []


def test_reads_over_their_limit_answer_as_documented(api_client, settings, audit):
    settings.RATE_LIMIT_READS_PER_MINUTE = 1
    audit(api_client.get("/api/v1/me"), 200)
    audit(api_client.get("/api/v1/me"), 429)
    limited = audit(api_client.get("/api/v1/jobs"), 429)
    assert audit.drift == []
    assert limited["X-RateLimit-Remaining"] == "0"


def test_writes_over_their_limit_answer_as_documented(api_client, settings, audit):
    settings.RATE_LIMIT_WRITES_PER_MINUTE = 1
    created = audit(_post(api_client, "/api/v1/clients", {"name": "Acme AS"}), 201)
    audit(api_client.delete(f"/api/v1/clients/{created.json()['id']}"), 429)
    assert audit.drift == []


def test_an_outage_answers_as_documented(api_client, monkeypatch, audit):
    def unreachable(limits):
        raise redis.ConnectionError("down")

    monkeypatch.setattr(core.throttling, "rate_limit_hit", unreachable)
    outage = audit(api_client.get("/api/v1/jobs"), 503)
    assert audit.drift == []
    assert outage.json()["code"] == "SERVICE_UNAVAILABLE"


def test_requests_refused_before_they_are_counted_answer_as_documented(api_client, audit):
    # An id that is not one is no route; a NUL in the query string is refused before any view.
    for path in ["/api/v1/clients/0.5", "/api/v1/jobs/null/events", "/api/v1/decks/x"]:
        assert "RateLimit" not in audit(api_client.get(path), 404)
    assert "RateLimit" not in audit(api_client.get("/api/v1/projects", {"cursor": "\x00"}), 400)
    assert audit.drift == []


def test_a_body_over_the_limit_answers_as_documented(api_client, settings, audit):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = {"type": "diagnostic", "payload": {"pad": "x" * 500}}
    audit(_post(api_client, "/api/v1/jobs", body), 413)
    assert audit.drift == []


# ---------------------------------------------------------------- generations


@pytest.fixture
def generated(api_client, audit):
    """One generation of each kind, run to the end; their 202s are audited."""
    submitted = {}
    for kind, body in GENERATIONS.items():
        submitted[kind] = audit(_post(api_client, "/api/v1/generations", body), 202).json()
        job_execute(job_id=submitted[kind]["id"])
    return submitted


def test_generations_answer_as_documented(api_client, generated, settings, audit):
    for submitted in generated.values():
        generation = f"/api/v1/generations/{submitted['id']}"
        done = audit(api_client.get(generation), 200)
        audit(api_client.get(generation, HTTP_IF_NONE_MATCH=done["ETag"]), 304)
        assert done.json()["status"] == Job.Status.COMPLETED, done.json()
    audit(api_client.get(f"/api/v1/generations/{MISSING}"), 404)
    audit(_post(api_client, "/api/v1/generations", {"kind": "poem"}), 400)
    audit(_post(api_client, "/api/v1/generations", {"kind": "deck"}), 400)
    audit(api_client.post("/api/v1/generations", [1], format="json"), 400)
    settings.JOB_CREDIT_COSTS = {"deck_generation": 1000}
    audit(_post(api_client, "/api/v1/generations", GENERATIONS["deck"]), 402)
    assert audit.drift == []


def test_each_kinds_generation_request_is_documented_with_its_input(api_client):
    edit = {"kind": "image_edit", "prompt": "add a hat", "source_url": "https://example.com/a.png"}
    distractors = {"kind": "distractors", "flashcard_id": 1, "count": 2}
    for body in [*GENERATIONS.values(), edit, distractors]:
        assert request_body_errors("POST", "/api/v1/generations", body) == [], body
    for refused in [{"kind": "story"}, {"kind": "deck", "prompt": "x"}, {"kind": "poem"}]:
        assert request_body_errors("POST", "/api/v1/generations", refused), refused
        assert _post(api_client, "/api/v1/generations", refused).status_code == 400


def test_every_create_documents_whether_it_takes_an_empty_body(api_client, tenant):
    creates = [
        path
        for path, operations in published_schema()["paths"].items()
        if "post" in operations and "{" not in path
    ]
    assert "/api/v1/generations" in creates
    for path in creates:
        documented = published_schema()["paths"][path]["post"]["requestBody"].get("required")
        refused = api_client.post(path).status_code == 400
        assert bool(documented) == refused, path


def test_a_pending_generation_and_its_story_answer_as_documented(api_client, audit):
    submitted = audit(_post(api_client, "/api/v1/generations", GENERATIONS["story"]), 202).json()
    pending = audit(api_client.get(f"/api/v1/generations/{submitted['id']}"), 200)
    story = Story.objects.get(job_id=submitted["id"])
    audit(api_client.get(f"/api/v1/stories/{story.pk}"), 200)
    assert audit.drift == []
    assert int(pending["Retry-After"]) >= 1


def test_artifacts_answer_as_documented_and_not_to_another_workspace(
    api_client, other_api_client, generated, audit
):
    for model, url in [
        (Deck, "/api/v1/decks"),
        (Story, "/api/v1/stories"),
        (SkillTree, "/api/v1/skill-trees"),
        (GeneratedImage, "/api/v1/images"),
    ]:
        artifact = model.objects.get()
        audit(api_client.get(f"{url}/{artifact.pk}"), 200)
        audit(other_api_client.get(f"{url}/{artifact.pk}"), 404)
        # An artifact whose job was purged answers job: null.
        model.objects.filter(pk=artifact.pk).update(job=None)
        audit(api_client.get(f"{url}/{artifact.pk}"), 200)
    assert Flashcard.objects.exists()
    audit(api_client.get("/api/v1/flashcards"), 200)
    audit(api_client.get("/api/v1/flashcards", {"job": generated["flashcards"]["id"]}), 200)
    audit(api_client.get("/api/v1/flashcards", {"job": "zzz"}), 400)
    assert audit.drift == []


def test_a_failed_story_answers_as_documented(api_client, monkeypatch, audit):
    def broken(provider, task, inputs):
        raise PermanentError("MODEL_ERROR", "nope")

    submitted = _post(api_client, "/api/v1/generations", GENERATIONS["story"]).json()
    monkeypatch.setattr(OfflineProvider, "_generate", broken)
    job_execute(job_id=submitted["id"])
    story = Story.objects.get(job_id=submitted["id"])
    audit(api_client.get(f"/api/v1/stories/{story.pk}"), 200)
    failed = audit(api_client.get(f"/api/v1/generations/{submitted['id']}"), 200)
    assert audit.drift == []
    assert failed.json()["status"] == Job.Status.FAILED


# ---------------------------------------------------------------- budgets


def test_projects_and_their_budgets_answer_as_documented(api_client, audit):
    projects = "/api/v1/projects"
    created = audit(_post(api_client, projects, {"name": "Bridge", "hourly_rate": "120"}), 201)
    project = f"{projects}/{created.json()['id']}"
    audit(_post(api_client, projects, {"name": ""}), 400)
    audit(api_client.get(projects), 200)
    audit(api_client.get(project), 200)
    audit(api_client.get(f"{projects}/999999"), 404)
    audit(api_client.put(project, {"name": "Bridge 2"}, format="json"), 200)
    audit(api_client.patch(project, {"status": "nope"}, format="json"), 400)
    budget = {
        "hours_budget": "10",
        "total_budget": "1000",
        "alert_thresholds": [{"type": "hours", "percentage": 50}],
    }
    audit(api_client.get(f"{project}/budget"), 404)
    audit(api_client.put(f"{project}/budget", budget, format="json"), 201)
    audit(api_client.put(f"{project}/budget", budget, format="json"), 200)
    audit(api_client.put(f"{project}/budget", {"hours_budget": "-1"}, format="json"), 400)
    audit(api_client.patch(f"{project}/budget", {"total_budget": "900"}, format="json"), 200)
    audit(api_client.patch(f"{project}/budget", {"hours_budget": None}, format="json"), 400)
    audit(api_client.get(f"{project}/budget"), 200)
    audit(api_client.put(f"{projects}/999999/budget", budget, format="json"), 404)
    audit(api_client.patch(project, {"status": "archived"}, format="json"), 200)
    budgeted = audit(api_client.get(project), 200)
    audit(api_client.get(f"{project}/usage"), 200)
    audit(api_client.get(f"{projects}/999999/usage"), 404)
    audit(api_client.delete(project), 204)
    audit(api_client.delete(project), 404)
    assert audit.drift == []
    assert created.json()["budget"] is None
    assert budgeted.json()["budget"]["hours_budget"] == "10.00"


def test_a_project_with_entries_refuses_deletion_as_documented(api_client, tenant, audit):
    project = ProjectFactory(tenant=tenant)
    hours(project, 2)
    audit(api_client.delete(f"/api/v1/projects/{project.pk}"), 409)
    assert audit.drift == []


@pytest.mark.parametrize("kind", ["time-entries", "material-entries"])
def test_time_and_material_entries_answer_as_documented(api_client, tenant, kind, audit):
    project = ProjectFactory(tenant=tenant)
    archived = ProjectFactory(tenant=tenant, status=Project.Status.ARCHIVED)
    entries = f"/api/v1/{kind}"
    body = {"project": project.pk, "date": "2026-01-05", "description": "work"}
    body.update({"hours": "1.5"} if kind == "time-entries" else {"amount": "99.90"})
    created = audit(_post(api_client, entries, body), 201)
    entry = f"{entries}/{created.json()['id']}"
    audit(_post(api_client, entries, {**body, "project": archived.pk}), 400)
    audit(_post(api_client, entries, {**body, "project": 999999}), 400)
    audit(api_client.get(entries), 200)
    audit(api_client.get(entries, {"project": project.pk}), 200)
    audit(api_client.get(entries, {"project": "x"}), 400)
    audit(api_client.get(entry), 200)
    audit(api_client.put(entry, body, format="json"), 200)
    audit(api_client.patch(entry, {"description": "more"}, format="json"), 200)
    audit(api_client.delete(entry), 204)
    audit(api_client.get(entry), 404)
    assert audit.drift == []


def test_budget_alerts_answer_as_documented(api_client, tenant, audit):
    project = ProjectFactory(tenant=tenant)
    api_client.put(
        f"/api/v1/projects/{project.pk}/budget",
        {"hours_budget": "1", "alert_thresholds": [{"type": "hours", "percentage": 50}]},
        format="json",
    )
    hours(project, 5)
    material(project, 10)
    budget_alert_check()
    alert = BudgetAlert.objects.get()
    audit(api_client.get("/api/v1/budget-alerts"), 200)
    audit(api_client.get("/api/v1/budget-alerts", {"status": "active"}), 200)
    audit(api_client.get("/api/v1/budget-alerts", {"status": "x"}), 400)
    audit(api_client.get(f"/api/v1/budget-alerts/{alert.pk}"), 200)
    audit(api_client.get("/api/v1/budget-alerts/999999"), 404)
    assert audit.drift == []


# ---------------------------------------------------------------- invoices

INVOICE = {
    "number": "2026-1",
    "issue_date": "2026-01-01",
    "due_date": "2026-01-15",
    "currency": "NOK",
    "lines": [{"description": "Work", "quantity": "2", "unit_price": "100.00", "vat_rate": "25"}],
}


def test_clients_answer_as_documented(api_client, tenant, audit):
    created = audit(_post(api_client, "/api/v1/clients", {"name": "Acme AS"}), 201)
    client = f"/api/v1/clients/{created.json()['id']}"
    audit(_post(api_client, "/api/v1/clients", {"name": "x", "email": "nope"}), 400)
    audit(api_client.get("/api/v1/clients"), 200)
    audit(api_client.get(client), 200)
    audit(api_client.put(client, {"name": "Acme 2"}, format="json"), 200)
    audit(api_client.patch(client, {"email": "a@b.no"}, format="json"), 200)
    InvoiceFactory(tenant=tenant, client_id=created.json()["id"])
    audit(api_client.delete(client), 409)
    unused = ClientFactory(tenant=tenant)
    audit(api_client.delete(f"/api/v1/clients/{unused.pk}"), 204)
    audit(api_client.get(f"/api/v1/clients/{unused.pk}"), 404)
    assert audit.drift == []


def test_invoices_answer_as_documented(api_client, tenant, audit):
    body = {**INVOICE, "client": ClientFactory(tenant=tenant).pk}
    created = audit(_post(api_client, "/api/v1/invoices", body), 201)
    invoice = f"/api/v1/invoices/{created.json()['id']}"
    audit(_post(api_client, "/api/v1/invoices", body), 400)  # the number is taken
    audit(_post(api_client, "/api/v1/invoices", {"number": "2026-2"}), 201)
    audit(api_client.get("/api/v1/invoices"), 200)
    audit(api_client.get(invoice), 200)
    audit(api_client.put(invoice, {**body, "notes": "n"}, format="json"), 200)
    audit(api_client.patch(invoice, {"status": "sent"}, format="json"), 200)
    audit(api_client.patch(invoice, {"notes": "changed"}, format="json"), 409)
    audit(api_client.patch(invoice, {"status": "draft"}, format="json"), 409)
    audit(api_client.delete(invoice), 409)
    audit(api_client.get("/api/v1/invoices/999999"), 404)
    draft = InvoiceFactory(tenant=tenant)
    audit(api_client.delete(f"/api/v1/invoices/{draft.pk}"), 204)
    assert audit.drift == []


def test_changing_invoices_is_never_refused_for_the_credits_of_their_pdfs(
    api_client, tenant, settings, audit
):
    settings.JOB_CREDIT_COSTS = {"invoice_pdf": 1000}
    created = audit(_post(api_client, "/api/v1/invoices", INVOICE), 201)
    invoice = f"/api/v1/invoices/{created.json()['id']}"
    audit(api_client.patch(invoice, {"notes": "x"}, format="json"), 200)
    assert audit.drift == []
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100
    assert not CreditEntry.objects.filter(kind=CreditEntry.Kind.DEBIT).exists()


def test_an_invoice_pdf_downloads_as_documented_for_a_client_accepting_only_pdf(
    api_client, tenant, audit
):
    invoice = InvoiceFactory(tenant=tenant, number="2026-0042")
    line(invoice, "Design", 1, 100, 25)
    pdf_url = f"/api/v1/invoices/{invoice.pk}/pdf"
    not_yet = audit(api_client.get(pdf_url, HTTP_ACCEPT="application/pdf"), 404)
    call_command("render_invoice_pdf", str(invoice.pk), stdout=io.StringIO())
    download = audit(api_client.get(pdf_url, HTTP_ACCEPT="application/pdf"), 200)
    audit(api_client.get(pdf_url), 200)
    assert audit.drift == []
    assert not_yet.json()["code"] == "NOT_FOUND"
    assert download["Content-Type"] == "application/pdf"
    text = PdfReader(io.BytesIO(b"".join(download.streaming_content))).pages[0].extract_text()
    assert "2026-0042" in text and "125.00 NOK" in text


# ---------------------------------------------------------------- share links


def test_share_links_answer_as_documented(api_client, tenant, audit):
    deck = Deck.objects.create(tenant=tenant, title="Shared")
    links = "/api/v1/share-links"
    body = {"resource_type": "deck", "resource_id": str(deck.pk), "max_views": 5}
    created = audit(_post(api_client, links, body), 201)
    link = f"{links}/{created.json()['id']}"
    audit(_post(api_client, links, {**body, "resource_type": "nope"}), 400)
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()
    audit(_post(api_client, links, {**body, "expires_at": yesterday}), 400)
    audit(api_client.get(links), 200)
    audit(api_client.get(links, {"usable": "true"}), 200)
    audit(api_client.get(links, {"active": "maybe"}), 400)
    audit(api_client.get(link), 200)
    audit(api_client.delete(link), 204)
    revoked = audit(api_client.get(link), 200)
    audit(api_client.get(f"{links}/999999"), 404)
    audit(api_client.delete(f"{links}/999999"), 404)
    assert audit.drift == []
    assert created.json()["deactivated_reason"] is None
    assert revoked.json()["deactivated_reason"] == "revoked"


def test_sharing_a_resource_that_does_not_exist_is_a_documented_404(api_client, tenant, audit):
    body = {"resource_type": "deck", "resource_id": "999999"}
    missing = audit(_post(api_client, "/api/v1/share-links", body), 404)
    assert audit.drift == []
    assert missing.json()["code"] == "NOT_FOUND"


def test_an_idempotent_share_link_replay_answers_as_documented_with_a_null_url(
    api_client, tenant, audit
):
    deck = Deck.objects.create(tenant=tenant, title="Shared")
    body = {"resource_type": "deck", "resource_id": str(deck.pk)}
    audit(_post(api_client, "/api/v1/share-links", body, HTTP_IDEMPOTENCY_KEY="s1"), 201)
    replay = audit(_post(api_client, "/api/v1/share-links", body, HTTP_IDEMPOTENCY_KEY="s1"), 201)
    assert audit.drift == []
    assert replay["Idempotent-Replayed"] == "true" and replay.json()["url"] is None


def test_a_members_reads_answer_as_documented(member_api_client, audit):
    for path in ["/api/v1/jobs", "/api/v1/projects", "/api/v1/invoices", "/api/v1/share-links"]:
        audit(member_api_client.get(path), 200)
    assert audit.drift == []
