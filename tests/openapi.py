"""The published OpenAPI schema, and what a real response does that it does not describe.

A response drifts from the schema when its status is not documented for its operation, its body
does not validate against the documented schema of that status and media type (objects refuse
properties the schema does not list), a header the schema marks required is missing, an integer
header is not an integer, or it sends a header clients act on that the schema does not mention.
"""

import copy
import datetime
import functools
import json
import re
import uuid

import jsonschema
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

# Headers a client acts on: one sent but not documented is drift.
NOTABLE_HEADERS = (
    "Location",
    "Retry-After",
    "ETag",
    "Idempotent-Replayed",
    "RateLimit",
    "RateLimit-Policy",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
)
JSON_MEDIA_TYPES = ("application/json", "application/problem+json")


@functools.cache
def published_schema() -> dict:
    """The schema `manage.py spectacular` writes, generated once per test run."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(schema))


def schema_operation(method: str, path: str) -> tuple[str, dict]:
    """The documented path template that `path` is an instance of, and its `method` operation."""
    for template, pattern in _path_patterns():
        if pattern.match(path):
            operations = published_schema()["paths"][template]
            if method.lower() in operations:
                return template, operations[method.lower()]
    raise LookupError(f"{method} {path} is not in the schema")


@functools.cache
def _path_patterns() -> list[tuple[str, re.Pattern]]:
    # Literal paths first, so /api/v1/queue/stats is never read as an instance of a template.
    templates = sorted(published_schema()["paths"], key=lambda template: template.count("{"))
    return [
        (
            template,
            re.compile(
                "^"
                + "/".join(
                    "[^/]+" if part.startswith("{") else re.escape(part)
                    for part in template.split("/")
                )
                + "$"
            ),
        )
        for template in templates
    ]


class SchemaAudit:
    """Collects, for every response it is shown, what the schema of its operation does not
    describe. A test sends real requests, shows each answer with the status it expects, and
    asserts at its end that `drift` is empty."""

    def __init__(self):
        self.drift: list[str] = []

    def __call__(self, response, status: int):
        method, path = response.request["REQUEST_METHOD"], response.request["PATH_INFO"]
        try:
            template, operation = schema_operation(method, path)
        except LookupError as exc:
            self.drift.append(str(exc))
            return response
        where = f"{method} {template} -> {response.status_code}"
        if response.status_code != status:
            self.drift.append(f"{where}: the test expected {status}: {_body(response)[:300]!r}")
        for found in response_drift(operation, response):
            if f"{where}: {found}" not in self.drift:
                self.drift.append(f"{where}: {found}")
        return response


def request_body_errors(method: str, path: str, body) -> list[str]:
    """Where a JSON request body departs from the schema its operation documents."""
    _, operation = schema_operation(method, path)
    schema = {
        **_json_schema(
            copy.deepcopy(operation["requestBody"]["content"]["application/json"]["schema"])
        ),
        "components": _components(),
    }
    validator = jsonschema.Draft7Validator(schema, format_checker=FORMATS)
    return [error.message[:300] for error in validator.iter_errors(body)]


def request_header_errors(method: str, path: str, name: str, value: str) -> list[str]:
    """Where a request header's value departs from the schema its operation documents."""
    return _parameter_errors(method, path, "header", name, value)


def request_query_errors(method: str, path: str, name: str, value: str) -> list[str]:
    """Where a query parameter's text departs from the schema its operation documents (digits
    read as the number they write, where the schema takes one)."""
    return _parameter_errors(method, path, "query", name, value)


def _parameter_errors(method: str, path: str, location: str, name: str, value: str) -> list[str]:
    _, operation = schema_operation(method, path)
    (parameter,) = [p for p in operation["parameters"] if p["in"] == location and p["name"] == name]
    if parameter["schema"].get("type") == "integer" and re.fullmatch(r"-?[0-9]+", value):
        value = int(value)
    validator = jsonschema.Draft7Validator(parameter["schema"], format_checker=FORMATS)
    return [error.message[:300] for error in validator.iter_errors(value)]


def response_drift(operation: dict, response) -> list[str]:
    documented = operation["responses"].get(str(response.status_code))
    if documented is None:
        return [f"status not documented (documented: {sorted(operation['responses'])})"]
    return _header_drift(documented.get("headers") or {}, response) + _body_drift(
        documented.get("content") or {}, response
    )


def _header_drift(documented: dict, response) -> list[str]:
    found = []
    for name, header in documented.items():
        if not response.has_header(name):
            if header.get("required"):
                found.append(f"required header {name} missing")
        elif header["schema"].get("type") == "integer" and not response[name].isdigit():
            found.append(f"header {name}={response[name]!r} is not an integer")
        elif "enum" in header["schema"] and response[name] not in header["schema"]["enum"]:
            found.append(f"header {name}={response[name]!r} is not one of the documented values")
    declared = {name.lower() for name in documented}
    found += [
        f"header {name} sent but not documented"
        for name in NOTABLE_HEADERS
        if response.has_header(name) and name.lower() not in declared
    ]
    return found


def _body_drift(content: dict, response) -> list[str]:
    raw = _body(response)
    if not content:
        return [f"the schema documents no body, the response has {raw[:120]!r}"] if raw else []
    media_type = response.get("Content-Type", "").split(";")[0].strip()
    if media_type not in content:
        return [f"Content-Type {media_type!r} not documented (documented: {list(content)})"]
    if media_type not in JSON_MEDIA_TYPES:
        return []
    try:
        data = json.loads(raw)
    except ValueError:
        return [f"the body is not JSON: {raw[:120]!r}"]
    schema = {
        **_json_schema(copy.deepcopy(content[media_type]["schema"])),
        "components": _components(),
    }
    validator = jsonschema.Draft7Validator(schema, format_checker=FORMATS)
    errors = sorted(validator.iter_errors(data), key=lambda error: list(error.absolute_path))
    return [
        f"body at {'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message[:300]}"
        for error in errors
    ]


def _body(response) -> bytes:
    if not getattr(response, "streaming", False):
        return response.content
    # A stream is read once: put the bytes back for the test that reads the body after the audit.
    content = b"".join(response.streaming_content)
    response.streaming_content = [content]
    return content


@functools.cache
def _components() -> dict:
    return _json_schema(copy.deepcopy(published_schema()["components"]))


def _json_schema(node):
    """OpenAPI 3.0 -> JSON Schema: `nullable` becomes a null alternative, and an object that
    lists its properties refuses any other."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _json_schema(value) for key, value in node.items()}
    for key in ("readOnly", "writeOnly", "example", "discriminator", "xml", "externalDocs"):
        node.pop(key, None)
    if node.get("type") == "object" and "properties" in node:
        node.setdefault("additionalProperties", False)
    if not node.pop("nullable", False):
        return node
    if any(key in node for key in ("allOf", "oneOf", "anyOf", "$ref")):
        return {"anyOf": [node, {"type": "null"}]}
    if "enum" in node:
        node["enum"] = [*node["enum"], None]
    if isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    return node


FORMATS = jsonschema.FormatChecker(formats=())
_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value) -> bool:
    if isinstance(value, str):
        if not _DATETIME.match(value):
            raise ValueError(value)
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@FORMATS.checks("date", raises=ValueError)
def _is_date(value) -> bool:
    if isinstance(value, str):
        datetime.date.fromisoformat(value)
    return True


@FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(value) -> bool:
    if isinstance(value, str):
        uuid.UUID(value)
    return True


@FORMATS.checks("uri")
def _is_uri(value) -> bool:
    return not isinstance(value, str) or bool(_URI.match(value))


@FORMATS.checks("email")
def _is_email(value) -> bool:
    return not isinstance(value, str) or "@" in value
