"""The site's Content-Security-Policy: on the admin, the API docs and the schema; never on top of the
public pages' own policies; sent as report-only when CSP_REPORT_ONLY says so."""

import re

import httpx
import pytest
from django.conf import settings
from django.template.loader import render_to_string

from generations.models import Deck, Flashcard
from generations.signing import view_url
from sharelinks.services import share_link_create
from tests.webserver import running_web

# A shared artifact is shown with the artifact page's policy; a link that does not open with this one.
CLOSED_LINK_POLICY = "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'"
ARTIFACT_PAGE_POLICY = (
    "default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _directives(header: str) -> dict[str, list[str]]:
    parts = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in parts}


def _assert_the_site_policy(header: str):
    directives = _directives(header)
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-eval'" not in header and "'unsafe-inline'" not in header
    assert "http" not in header


def _deck(tenant):
    deck = Deck.objects.create(tenant=tenant, title="Board meeting")
    deck.slides.create(position=0, title="Agenda").blocks.create(
        position=0, kind="paragraph", text="Budget first."
    )
    return deck


def test_the_admin_login_page_and_a_changelist_carry_the_policy(client, admin_client):
    login = client.get("/admin/login/")
    assert login.status_code == 200
    _assert_the_site_policy(login["Content-Security-Policy"])
    changelist = admin_client.get("/admin/jobs/job/")
    assert changelist.status_code == 200
    _assert_the_site_policy(changelist["Content-Security-Policy"])
    assert "Content-Security-Policy-Report-Only" not in changelist


def test_the_api_docs_their_script_and_the_schema_carry_the_policy(client, db):
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    _assert_the_site_policy(docs["Content-Security-Policy"])
    page = docs.content.decode()
    # Nothing inline for the policy to block: the page's script and styles are files of the site.
    assert "<style" not in page and "<script>" not in page
    assert '<script src="/api/docs/?script="></script>' in page
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    _assert_the_site_policy(schema["Content-Security-Policy"])


@pytest.mark.parametrize(
    "template",
    [
        "403_csrf.html",
        "404.html",
        "500.html",
        "503.html",
        "link_not_found.html",
        "sharelinks/too_many.html",
    ],
)
def test_the_error_pages_load_their_styles_from_a_file_and_need_no_database(template):
    """No `db` fixture: any query while rendering would fail the test, as it would fail a 500 page
    rendered while the database is down."""
    page = render_to_string(template)
    assert "<style" not in page and "style=" not in page
    assert '<link rel="stylesheet" href="/static/pages/notice.css">' in page


def test_the_json_api_answers_without_a_policy_but_are_never_framed(api_client, tenant):
    from jobs.services import job_submit

    job = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 1})
    for response in (
        api_client.get(f"/api/v1/jobs/{job.pk}"),
        api_client.get("/api/v1/jobs?status=bogus"),
        api_client.get("/api/v1/no-such-thing"),
    ):
        assert "Content-Security-Policy" not in response
        assert response["X-Frame-Options"] == "DENY"


def test_a_page_with_an_inline_script_gets_a_nonce_for_it_alone(admin_client):
    form = admin_client.get("/admin/django_celery_beat/periodictask/add/")
    assert form.status_code == 200
    nonce = _directives(form["Content-Security-Policy"])["script-src"][1]
    assert nonce.startswith("'nonce-")
    assert f'<script id="periodic-task-overrides" nonce="{nonce[7:-1]}">' in form.content.decode()
    again = admin_client.get("/admin/django_celery_beat/periodictask/add/")
    assert _directives(again["Content-Security-Policy"])["script-src"][1] != nonce


def test_the_public_pages_keep_exactly_their_own_policy(client, tenant):
    deck = _deck(tenant)
    _, token = share_link_create(tenant=tenant, resource_type="deck", resource_id=deck.pk)
    shared = client.get(f"/s/{token}")
    assert shared.status_code == 200 and "Board meeting" in shared.content.decode()
    assert shared["Content-Security-Policy"] == ARTIFACT_PAGE_POLICY
    assert "Content-Security-Policy-Report-Only" not in shared
    closed = client.get("/s/no-such-link")
    assert closed.status_code == 404
    assert closed["Content-Security-Policy"] == CLOSED_LINK_POLICY
    generated = client.get(view_url("deck", deck.pk).removeprefix(settings.PUBLIC_BASE_URL))
    assert generated.status_code == 200 and "Board meeting" in generated.content.decode()
    assert generated["Content-Security-Policy"] == ARTIFACT_PAGE_POLICY
    assert "Content-Security-Policy-Report-Only" not in generated


def test_an_artifact_page_runs_no_inline_script_and_applies_no_inline_style(client, tenant):
    # They show a workspace's text on the admin's origin: markup that slipped into one could run
    # as any staff user who opens the link, were inline scripts allowed.
    deck = _deck(tenant)
    Flashcard.objects.create(tenant=tenant, question="Capital of France?", answer="Paris")
    card = Flashcard.objects.get(tenant=tenant)
    _, token = share_link_create(tenant=tenant, resource_type="deck", resource_id=deck.pk)
    pages = [
        client.get(f"/s/{token}"),
        client.get(view_url("distractors", card.pk).removeprefix(settings.PUBLIC_BASE_URL)),
    ]
    for page in pages:
        assert page.status_code == 200
        policy = _directives(page["Content-Security-Policy"])
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
        html = page.content.decode()
        assert "<style" not in html and " style=" not in html
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
        assert scripts and all('src="/static/' in attrs and not body for attrs, body in scripts)


@pytest.mark.django_db(transaction=True)
def test_csp_report_only_sends_the_policy_to_be_reported_and_leaves_the_public_pages_alone(
    tenant,
):
    deck = _deck(tenant)
    _, token = share_link_create(tenant=tenant, resource_type="deck", resource_id=deck.pk)
    generation_page = view_url("deck", deck.pk).removeprefix(settings.PUBLIC_BASE_URL)
    env = {"CSP_REPORT_ONLY": "true", "CSP_REPORT_URI": "/csp-reports"}
    with running_web(processes=1, extra_env=env) as base:
        for url in ["/admin/login/", "/api/docs/", "/api/schema/"]:
            response = httpx.get(f"{base}{url}")
            assert response.status_code == 200, url
            assert "Content-Security-Policy" not in response.headers, url
            reported = response.headers["Content-Security-Policy-Report-Only"]
            _assert_the_site_policy(reported)
            assert _directives(reported)["report-uri"] == ["/csp-reports"]
        shared = httpx.get(f"{base}/s/{token}")
        assert shared.status_code == 200
        assert shared.headers["Content-Security-Policy"] == ARTIFACT_PAGE_POLICY
        assert "Content-Security-Policy-Report-Only" not in shared.headers
        closed = httpx.get(f"{base}/s/no-such-link")
        assert closed.status_code == 404
        assert closed.headers["Content-Security-Policy"] == CLOSED_LINK_POLICY
        assert "Content-Security-Policy-Report-Only" not in closed.headers
        generated = httpx.get(f"{base}{generation_page}")
        assert generated.status_code == 200
        assert generated.headers["Content-Security-Policy"] == ARTIFACT_PAGE_POLICY
        assert "Content-Security-Policy-Report-Only" not in generated.headers
