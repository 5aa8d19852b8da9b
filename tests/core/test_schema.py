"""The OpenAPI schema tells a client generator every answer it must handle, errors included."""

import json
import re

import pytest

PROBLEM = "#/components/schemas/Problem"
OPERATIONS = ("get", "post", "put", "patch", "delete")
MISSING = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def schema(client, db):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method in OPERATIONS:
                yield path, method, operation


def _problem_codes(operation) -> set[str]:
    return {
        code
        for code, response in operation["responses"].items()
        if response.get("content", {}).get("application/problem+json", {}).get("schema", {})
        == {"$ref": PROBLEM}
    }


def test_every_operation_documents_its_problem_responses(schema):
    for path, method, operation in _operations(schema):
        expected = {"400", "401", "403", "429", "503"} | ({"404"} if "{" in path else set())
        assert expected <= _problem_codes(operation), (method, path)
        assert "Retry-After" in operation["responses"]["429"]["headers"], (method, path)


def test_submitting_work_documents_credits_and_idempotency(schema):
    submit = schema["paths"]["/api/v1/jobs"]["post"]
    assert {"402", "409", "422"} <= _problem_codes(submit)
    assert "INSUFFICIENT_CREDITS" in submit["responses"]["402"]["description"]


def test_every_create_documents_the_idempotency_key_header(schema):
    creates = [
        (path, operation)
        for path, method, operation in _operations(schema)
        if method == "post" and "{" not in path
    ]
    assert len(creates) >= 9
    for path, operation in creates:
        headers = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
        assert "Idempotency-Key" in headers, path
        assert "422" in _problem_codes(operation), path


def test_the_schema_generates_without_a_warning(tmp_path, db):
    from django.core.management import call_command

    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "/api/v1/jobs/{id}" in (tmp_path / "schema.yml").read_text()


def test_the_idempotency_key_header_is_documented_with_the_keys_the_api_takes(schema, api_client):
    from tests.openapi import request_header_errors

    keys = [("k" * 255, True), ("k" * 256, False), ("   ", False), ('""', False), ("clé", False)]
    for key, taken in keys:
        documented = not request_header_errors("POST", "/api/v1/jobs", "Idempotency-Key", key)
        response = api_client.post(
            "/api/v1/jobs",
            {"type": "diagnostic", "payload": {"steps": 0}},
            format="json",
            HTTP_IDEMPOTENCY_KEY=key,
        )
        assert (documented, response.status_code == 202) == (taken, taken), key


def test_both_key_schemes_say_that_two_different_keys_are_refused(schema, api_client, tenant):
    from tests.factories import api_key_for

    schemes = schema["components"]["securitySchemes"]
    for name in ("bearerAuth", "apiKeyHeader"):
        assert "different keys, are refused (401)" in schemes[name]["description"], name
    response = api_client.get("/api/v1/me", HTTP_X_API_KEY=api_key_for(tenant, name="other"))
    assert response.status_code == 401


def test_a_clients_email_is_documented_with_the_length_the_api_takes(schema, api_client):
    from tests.openapi import request_body_errors

    domain = ("b" * 63 + ".") * 2  # labels at their longest (63)
    longest = "x" * 64 + "@" + domain + "b" * 58 + ".no"  # 254 characters
    for email, taken in [(longest, True), (longest.replace(".no", "b.no"), False)]:
        body = {"name": "Acme", "email": email}
        documented = not request_body_errors("POST", "/api/v1/clients", body)
        response = api_client.post("/api/v1/clients", body, format="json")
        assert (documented, response.status_code == 201) == (taken, taken), len(email)


def test_no_component_is_described_by_code_it_inherits(schema):
    # drf-spectacular describes a serializer by its docstring, its bases' when it has none.
    described = {
        name: component["description"]
        for name, component in schema["components"]["schemas"].items()
        if "serializer" in component.get("description", "").lower()
    }
    assert described == {}


def test_no_operation_is_described_by_a_mixin_of_its_view(schema):
    # drf-spectacular describes an operation by its view's docstring, a base class's when it has
    # none: the mixin scoping a view to its tenant described 26 operations by how it works.
    described = [
        (method, path)
        for path, method, operation in _operations(schema)
        if "queryset" in operation.get("description", "").lower()
    ]
    assert described == []


@pytest.mark.parametrize(
    ("path", "name", "values"),
    [
        ("/api/v1/jobs", "type", [("invoice_pdf", True), ("", False), ("poem", False)]),
        ("/api/v1/jobs", "ids", [(f" {MISSING}, ,{MISSING.upper()}", True), ("x", False)]),
        ("/api/v1/credit-entries", "job", [(MISSING, True), ("", False), ("x", False)]),
        ("/api/v1/flashcards", "job", [(MISSING, True), ("", False)]),
        ("/api/v1/stories", "job", [(MISSING, True), ("", False)]),
        ("/api/v1/audit-events", "resource_type", [("invoices.invoice", True), ("", False)]),
        ("/api/v1/audit-events", "resource_id", [("7", True), ("", False), ("7" * 65, False)]),
        ("/api/v1/time-entries", "project", [("12", True), ("0", False), ("-1", False)]),
        ("/api/v1/material-entries", "project", [("3", True), ("-3", False)]),
        ("/api/v1/budget-alerts", "project", [("3", True), ("-3", False)]),
        ("/api/v1/invoices", "client", [("3", True), ("0", False)]),
    ],
)
def test_a_lists_filters_are_documented_with_the_values_it_takes(
    schema, api_client, path, name, values
):
    from tests.openapi import request_query_errors

    for value, taken in values:
        documented = not request_query_errors("GET", path, name, value)
        response = api_client.get(path, {name: value})
        assert (documented, response.status_code == 200) == (taken, taken), value


def test_an_entry_create_documents_no_filter_it_ignores(schema, api_client, tenant):
    from tests.budgets.factories import ProjectFactory

    project = ProjectFactory(tenant=tenant)
    created = api_client.post(
        "/api/v1/time-entries?project=-1", {"project": project.pk, "hours": "1"}, format="json"
    )
    assert created.status_code == 201
    create = schema["paths"]["/api/v1/time-entries"]["post"]
    assert "project" not in {parameter["name"] for parameter in create.get("parameters", [])}


def _request_components(schema, node) -> set[str]:
    """The components a request body's schema names, through its variants, properties and items."""
    if isinstance(node, list):
        return set().union(*(_request_components(schema, item) for item in node))
    if not isinstance(node, dict):
        return set()
    names = set()
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        names = {name} | _request_components(schema, schema["components"]["schemas"][name])
    return names | _request_components(schema, [v for k, v in node.items() if k != "$ref"])


def test_every_request_body_documents_that_it_refuses_unknown_fields(schema, api_client):
    refused = api_client.post("/api/v1/projects", {"name": "Site", "colour": "red"}, format="json")
    assert refused.json()["errors"] == {"colour": ["Unknown field."]}
    named = set().union(
        *(
            _request_components(schema, operation["requestBody"])
            for _, _, operation in _operations(schema)
            if "requestBody" in operation
        )
    )
    objects = {name for name in named if "properties" in schema["components"]["schemas"][name]}
    assert {"InvoiceLineRequest", "ThresholdRequest", "DeckGenerationRequest"} <= objects
    for name in objects:
        assert schema["components"]["schemas"][name]["additionalProperties"] is False, name


def test_a_decimal_is_documented_with_the_text_the_api_takes(schema, api_client, tenant):
    from tests.budgets.factories import ProjectFactory
    from tests.openapi import request_body_errors

    project = ProjectFactory(tenant=tenant)
    amounts = [
        ("12.50", True),
        (".5", True),
        ("7.", True),
        ("", False),
        ("-", False),
        ("-3", False),
    ]
    for amount, taken in amounts:
        body = {"project": project.pk, "amount": amount}
        documented = not request_body_errors("POST", "/api/v1/material-entries", body)
        response = api_client.post("/api/v1/material-entries", body, format="json")
        assert (documented, response.status_code == 201) == (taken, taken), amount


def test_every_component_is_named_by_an_operation(schema):
    # A component no operation names (directly or through another) documents nothing a client
    # sends or receives, yet a client generator makes a type of it.
    components = schema["components"]["schemas"]
    named, found = set(), _names(schema["paths"])
    while found:
        name = found.pop()
        named.add(name)
        found |= _names(components[name]) - named
    assert set(components) - named == set()


def _names(node) -> set[str]:
    text = json.dumps(node)
    return set(re.findall(r'"#/components/schemas/([^"]+)"', text))


def test_a_unit_price_is_documented_with_the_decimals_the_api_takes_and_gives(
    schema, api_client, tenant
):
    from tests.openapi import request_body_errors

    for price, taken in [("1.2345", True), ("0.5", True), ("-12", True), ("1.23456", False)]:
        body = {"number": f"P{price}", "lines": [{"description": "x", "unit_price": price}]}
        documented = not request_body_errors("POST", "/api/v1/invoices", body)
        response = api_client.post("/api/v1/invoices", body, format="json")
        assert (documented, response.status_code == 201) == (taken, taken), price
    given = schema["components"]["schemas"]["InvoiceLine"]["properties"]["unit_price"]
    assert "at least two" in given["description"]
    prices = [
        item["unit_price"]
        for invoice in api_client.get("/api/v1/invoices").json()["results"]
        for item in invoice["lines"]
    ]
    assert sorted(prices) == ["-12.00", "0.50", "1.2345"]
    assert all(re.fullmatch(given["pattern"], price) for price in prices)
    assert not re.fullmatch(given["pattern"], "0.5")


def test_the_schema_is_made_once_then_served_from_memory(client, db, monkeypatch):
    # Making it takes a web process seconds: asked for in a loop by anyone (no key needed), it
    # would hold every web process.
    from drf_spectacular.generators import SchemaGenerator

    from core import schema_view

    # As a new web process starts: another test may have had the schema made already.
    schema_view._schema.cache_clear()
    schema_view.schema_rendered.cache_clear()
    made = []
    get_schema = SchemaGenerator.get_schema
    monkeypatch.setattr(
        SchemaGenerator,
        "get_schema",
        lambda self, *args, **kwargs: made.append(1) or get_schema(self, *args, **kwargs),
    )
    answers = [client.get(f"/api/schema/{query}") for query in ("", "", "?format=json", "")]
    answers += [client.get(f"/api/schema/{query}") for query in ("?lang=de", "?version=2")]

    assert len(made) == 1
    assert {answer.status_code for answer in answers} == {200}
    yaml = answers[0].content
    assert all(answer.content == yaml for answer in answers if answer is not answers[2])
    assert answers[0]["Content-Type"] == "application/vnd.oai.openapi; charset=utf-8"
    assert answers[0]["Content-Disposition"] == 'inline; filename="Offload API.yaml"'
    assert answers[2]["Content-Type"] == "application/vnd.oai.openapi+json"
    assert json.loads(answers[2].content)["paths"]["/api/v1/jobs"]["post"]
    assert b"/api/schema/" not in yaml and b"Der Zeigerwert" not in yaml


def test_a_generations_kind_and_the_callers_role_are_documented_with_their_values(
    schema, api_client
):
    components = schema["components"]["schemas"]

    def values(component, field):
        documented = components[component]["properties"][field]
        ref = documented.get("$ref") or documented["allOf"][0]["$ref"]
        return components[ref.rsplit("/", 1)[1]]["enum"]

    assert values("Generation", "kind") == [
        "deck",
        "distractors",
        "flashcards",
        "image",
        "image_edit",
        "skill_tree",
        "story",
    ]
    assert values("Me", "role") == ["admin", "member"]
    assert api_client.get("/api/v1/me").json()["role"] in values("Me", "role")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/jobs/{id}",
        "/api/v1/generations/{id}",
        "/api/v1/invoices/{id}",
        "/api/v1/stories/{id}",
    ],
)
def test_a_read_that_answers_304_documents_its_etag_and_if_none_match(schema, path):
    read = schema["paths"][path]["get"]
    assert "If-None-Match" in [p["name"] for p in read["parameters"] if p["in"] == "header"]
    assert "ETag" in read["responses"]["200"]["headers"]
    assert "ETag" in read["responses"]["304"]["headers"]
