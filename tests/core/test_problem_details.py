import pytest


def _assert_problem(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert {"type", "title", "detail", "request_id"} <= set(body)
    assert body["request_id"] == response["X-Request-Id"]
    return body


def _assert_private(response):
    assert response["Cache-Control"] == "private, no-cache"
    assert {"Authorization", "X-Api-Key"} <= {v.strip() for v in response["Vary"].split(",")}


def test_every_api_answer_is_the_callers_own_and_revalidated(api_client, tenant):
    from jobs.services import job_submit

    job = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 1})
    polled = api_client.get(f"/api/v1/jobs/{job.pk}")
    _assert_private(polled)
    unchanged = api_client.get(f"/api/v1/jobs/{job.pk}", HTTP_IF_NONE_MATCH=polled["ETag"])
    assert unchanged.status_code == 304
    _assert_private(unchanged)
    _assert_private(api_client.get("/api/v1/me"))
    _assert_private(api_client.get("/api/v1/no-such-thing"))
    _assert_private(api_client.delete("/api/v1/me"))


def test_unparseable_json_is_400(api_client):
    response = api_client.post("/api/v1/jobs", data="{not json", content_type="application/json")
    _assert_problem(response, 400, "INVALID_REQUEST")


@pytest.mark.parametrize("debug", [False, True])
def test_a_nul_character_in_a_query_parameter_is_400(api_client, settings, debug):
    settings.DEBUG = debug
    body = _assert_problem(api_client.get("/api/v1/jobs?status=pending%00"), 400, "INVALID_REQUEST")
    assert body["detail"] == "A query parameter contains a NUL character."
    assert body["errors"] == {"status": ["Contains a NUL character."]}
    _assert_private(api_client.get("/api/v1/jobs?status=pending%00"))


def test_an_unknown_api_route_is_404_in_problem_json(api_client):
    _assert_problem(api_client.get("/api/v1/no-such-thing"), 404, "NOT_FOUND")


def test_an_unknown_route_without_a_key_is_also_problem_json(anonymous_client, db):
    _assert_problem(anonymous_client.get("/api/v2/jobs"), 404, "NOT_FOUND")


def test_a_wrong_method_is_405(api_client):
    _assert_problem(api_client.delete("/api/v1/me"), 405, "INVALID_REQUEST")


def test_a_crash_is_500_without_a_traceback(api_client, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("accounts.api.views.MeSerializer", explode)
    api_client.raise_request_exception = False
    response = api_client.get("/api/v1/me")
    body = _assert_problem(response, 500, "INTERNAL_ERROR")
    assert "secret internals" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert body["detail"] == "An internal error occurred."


def test_a_sane_client_request_id_is_echoed(api_client):
    response = api_client.get("/api/v1/me", HTTP_X_REQUEST_ID="trace-abc.123")
    assert response["X-Request-Id"] == "trace-abc.123"


@pytest.mark.parametrize("supplied", ["has spaces", "x" * 300, "<script>"])
def test_an_odd_client_request_id_is_replaced(api_client, supplied):
    response = api_client.get("/api/v1/me", HTTP_X_REQUEST_ID=supplied)
    assert response["X-Request-Id"] != supplied
    assert len(response["X-Request-Id"]) == 32


def test_every_response_has_a_request_id(client, db):
    assert client.get("/healthz")["X-Request-Id"]
    assert client.get("/admin/login/")["X-Request-Id"]


def test_a_non_api_404_stays_html(client, db):
    response = client.get("/nothing-here")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_redis_out_of_reach_is_503_with_retry_after_and_nothing_written(api_client, settings):
    from jobs.models import Job

    api_client.get("/api/v1/me")  # the key is known: only the rate limiter needs Redis now
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = api_client.post(
        "/api/v1/jobs", {"type": "diagnostic", "payload": {"steps": 0}}, format="json"
    )
    body = _assert_problem(response, 503, "SERVICE_UNAVAILABLE")
    assert response["Retry-After"] == "5"
    assert "unavailable" in body["detail"]
    assert not Job.objects.exists()
    _assert_problem(api_client.get("/api/v1/jobs"), 503, "SERVICE_UNAVAILABLE")


@pytest.mark.django_db(transaction=True)
def test_the_database_out_of_reach_is_503(api_client):
    from django.db import connection

    api_client.get("/api/v1/me")
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = 1
    try:
        response = api_client.get("/api/v1/jobs")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port
    _assert_problem(response, 503, "SERVICE_UNAVAILABLE")
    assert response["Retry-After"] == "5"


def test_a_missing_page_outside_the_api_is_the_products_html_404(client, db):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "Page not found" in response.content.decode()


def test_a_body_over_the_upload_limit_is_413_and_nothing_is_written(api_client, settings):
    from jobs.models import Job

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    big = '{"type": "diagnostic", "payload": {"steps": 1, "note": "' + "a" * 20_000 + '"}}'
    body = _assert_problem(
        api_client.post("/api/v1/jobs", data=big, content_type="application/json"),
        413,
        "INVALID_REQUEST",
    )
    assert "10,000 bytes" in body["detail"]
    assert not Job.objects.exists()
    small = api_client.post(
        "/api/v1/jobs", {"type": "diagnostic", "payload": {"steps": 1}}, format="json"
    )
    assert small.status_code == 202


@pytest.mark.parametrize("depth", [65, 990, 100_000])
def test_json_nested_too_deep_is_400_and_nothing_is_written(api_client, depth):
    from jobs.models import Job

    nested = "[" * depth + "]" * depth
    body = _assert_problem(
        api_client.post(
            "/api/v1/jobs",
            data='{"type": "diagnostic", "payload": {"steps": 1, "x": ' + nested + "}}",
            content_type="application/json",
        ),
        400,
        "INVALID_REQUEST",
    )
    assert "nested deeper than 64 levels" in body["detail"]
    assert not Job.objects.exists()
    shallow = "[" * 60 + "]" * 60
    parsed = api_client.post(
        "/api/v1/jobs",
        data='{"type": "diagnostic", "payload": {"steps": 1, "x": ' + shallow + "}}",
        content_type="application/json",
    )
    # Parsed, then validated: the payload has no field "x".
    assert parsed.json()["errors"] == {"payload": {"x": ["Unknown field."]}}


TOO_LARGE, SURROGATE = "a number is too large", "half of a UTF-16 surrogate pair"


@pytest.mark.parametrize(
    ("url", "body", "problem"),
    [
        ("/api/v1/invoices", '{"number": "2026-1", "client": 1e400}', TOO_LARGE),
        ("/api/v1/time-entries", '{"project": 1e400, "hours": "1"}', TOO_LARGE),
        ("/api/v1/material-entries", '{"project": -1e400, "amount": "1"}', TOO_LARGE),
        (
            "/api/v1/jobs",
            '{"type": "diagnostic", "payload": {"steps": 1, "x": [1e999]}}',
            TOO_LARGE,
        ),
        (
            "/api/v1/jobs",
            '{"type": "diagnostic", "payload": {"steps": 1}, "x\\ud800": 1}',
            SURROGATE,
        ),
        ("/api/v1/jobs", '{"type": "diagnostic", "payload": {"x\\udbff": 1}}', SURROGATE),
        ("/api/v1/jobs", '{"type": "diagnostic", "payload": {}, "priority": "\\udc00"}', SURROGATE),
        ("/api/v1/generations", '{"kind": "\\uDFFF", "text": "x"}', SURROGATE),
        ("/api/v1/projects", '{"name": "p", "hourly_rate": "1", "status": "\\ud800"}', SURROGATE),
    ],
)
def test_json_that_python_reads_but_no_field_takes_is_400_and_nothing_is_written(
    api_client, url, body, problem
):
    from budgets.models import MaterialEntry, Project, TimeEntry
    from invoices.models import Invoice
    from jobs.models import Job

    response = api_client.post(url, data=body, content_type="application/json")
    assert problem in _assert_problem(response, 400, "INVALID_REQUEST")["detail"]
    for model in (Invoice, TimeEntry, MaterialEntry, Job, Project):
        assert not model.objects.exists()


def test_a_whole_surrogate_pair_is_one_character(api_client):
    response = api_client.post(
        "/api/v1/projects",
        data='{"name": "Launch \\ud83d\\ude80", "hourly_rate": "1"}',
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "Launch \N{ROCKET}"


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("client_fixture", ["api_client", "anonymous_client"])
def test_too_many_query_parameters_are_400_in_problem_json(
    request, client_fixture, db, settings, debug
):
    settings.DEBUG = debug
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 100
    client = request.getfixturevalue(client_fixture)
    query = "&".join(f"f{n}=1" for n in range(110))
    body = _assert_problem(client.get(f"/api/v1/jobs?{query}"), 400, "INVALID_REQUEST")
    assert "too many query parameters" in body["detail"]


@pytest.mark.parametrize("debug", [False, True])
def test_a_host_the_server_does_not_answer_to_is_400_in_problem_json(api_client, settings, debug):
    # With DEBUG on (the embedded default) too: Django's debug page is never an API answer.
    settings.DEBUG = debug
    settings.ALLOWED_HOSTS = ["testserver"]
    response = api_client.get("/api/v1/me", HTTP_HOST="evil.example")
    body = _assert_problem(response, 400, "INVALID_REQUEST")
    assert "Host" in body["detail"] and "evil.example" not in body["detail"]
    _assert_private(response)


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing", "/api/v1/jobs/"])
def test_api_problems_made_from_djangos_own_pages_keep_the_security_headers(client, db, path):
    response = client.get(path)
    assert response["Content-Type"] == "application/problem+json"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert "Referrer-Policy" in response
    _assert_private(response)


def test_a_redirect_to_the_api_docs_with_their_slash_is_private_too(api_client):
    response = api_client.get("/api/docs")
    assert response.status_code == 301 and response["Location"] == "/api/docs/"
    _assert_private(response)


def test_a_host_the_server_does_not_answer_to_outside_the_api_stays_html(client, db, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    response = client.get("/admin/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("query", "accept", "status_code"),
    [("?format=xml", "*/*", 404), ("", "text/yaml", 406)],
)
def test_the_schemas_refusals_are_problem_json_not_yaml(client, db, query, accept, status_code):
    response = client.get(f"/api/schema/{query}", HTTP_ACCEPT=accept)
    assert response.status_code == status_code
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == status_code
