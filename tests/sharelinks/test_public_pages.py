import io
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import time_machine
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image

from accounts.models import AuditEvent
from generations.models import Block, Deck, Flashcard, GeneratedImage, Slide
from generations.signing import file_url, view_url
from sharelinks.models import PublicLink, PublicLinkEvent
from sharelinks.services import share_link_create, share_link_revoke
from tests.invoices.factories import InvoiceFactory


@pytest.fixture
def deck(tenant):
    deck = Deck.objects.create(tenant=tenant, title="Quarterly review")
    slide = Slide.objects.create(deck=deck, position=0, title="Revenue up")
    Block.objects.create(slide=slide, position=0, kind="paragraph", text="Twelve percent.")
    return deck


def _link(tenant, deck, **kwargs):
    return share_link_create(tenant=tenant, resource_type="deck", resource_id=deck.pk, **kwargs)


def test_a_link_serves_the_page_counts_the_view_and_hides_from_search(client, tenant, deck):
    link, token = _link(tenant, deck)
    response = client.get(
        f"/s/{token}", HTTP_USER_AGENT="Mozilla/5.0 Firefox/130.0", REMOTE_ADDR="198.51.100.7"
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Revenue up" in body and "Twelve percent." in body
    assert response["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response["X-Robots-Tag"] and '<meta name="robots" content="noindex' in body
    assert "http://" not in body.split("<main>")[1] and "https://" not in body
    link.refresh_from_db()
    assert link.view_count == 1
    event = PublicLinkEvent.objects.get(link=link)
    assert event.user_agent == "firefox"
    assert "198.51.100.7" not in event.client_hash and len(event.client_hash) == 16


def _dead_links(client, tenant, deck) -> tuple[str, str, str]:
    """The tokens of three links of the deck that no longer open: used up, expired, revoked."""
    _, used = _link(tenant, deck, max_views=1)
    assert client.get(f"/s/{used}").status_code == 200
    expired, expired_token = _link(tenant, deck, expires_at=timezone.now() + timedelta(hours=1))
    PublicLink.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    revoked, revoked_token = _link(tenant, deck)
    share_link_revoke(link=revoked)
    return used, expired_token, revoked_token


def test_unknown_expired_revoked_and_used_up_links_answer_the_same_404(client, tenant, deck):
    answers = [
        client.get(f"/s/{token}")
        for token in (*_dead_links(client, tenant, deck), "no-such-token-at-all")
    ]
    assert {response.status_code for response in answers} == {404}
    assert len({response.content for response in answers}) == 1
    assert all(response["Referrer-Policy"] == "no-referrer" for response in answers)


def test_a_malformed_request_for_a_link_is_refused_unlisted_and_counts_no_view(
    client, tenant, deck
):
    link, token = _link(tenant, deck)

    response = client.get(f"/s/{token}?utm_source=%00")

    assert response.status_code == 400
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["X-Robots-Tag"] == "noindex"
    link.refresh_from_db()
    assert link.view_count == 0


def test_the_token_is_not_in_the_database(tenant, deck):
    _, token = _link(tenant, deck)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM sharelinks_publiclink WHERE token_hash LIKE %s OR token_prefix = %s",
            [f"%{token}%", token],
        )
        assert cursor.fetchone()[0] == 0
        cursor.execute(
            "SELECT COUNT(*) FROM accounts_auditevent WHERE new_values::text LIKE %s",
            [f"%{token}%"],
        )
        assert cursor.fetchone()[0] == 0


def test_public_pages_are_rate_limited_per_address(client, tenant, deck, settings):
    settings.SHARE_LINK_RATE_LIMIT_PER_MINUTE = 3
    _, token = _link(tenant, deck)
    codes = [client.get(f"/s/{token}", REMOTE_ADDR="203.0.113.5").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert client.get(f"/s/{token}", REMOTE_ADDR="203.0.113.6").status_code == 200


def _view_links(tenant, deck) -> tuple[str, str]:
    """The paths of a signed view link to the deck's page and of one to an image's file."""
    page = view_url("deck", deck.pk).removeprefix(settings.PUBLIC_BASE_URL)
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, format="PNG")
    name = default_storage.save(f"generations/{tenant.pk}/fox.png", ContentFile(png.getvalue()))
    image = GeneratedImage.objects.create(tenant=tenant, prompt="fox", file=name, width=8, height=8)
    return page, file_url("image", image.pk).removeprefix(settings.PUBLIC_BASE_URL)


def test_view_links_and_image_files_count_against_the_same_per_address_limit(
    client, tenant, deck, settings
):
    settings.SHARE_LINK_RATE_LIMIT_PER_MINUTE = 4
    _, token = _link(tenant, deck)
    page, picture = _view_links(tenant, deck)
    address = {"REMOTE_ADDR": "203.0.113.8"}

    opened = [client.get(path, **address) for path in (page, picture, page, picture)]

    # Each read to its end, which closes the file an image streams.
    assert [(response.status_code, bool(response.getvalue())) for response in opened] == [
        (200, True)
    ] * 4
    for path in (page, picture, f"/s/{token}"):
        refused = client.get(path, **address)
        assert refused.status_code == 429, path
        assert int(refused["Retry-After"]) >= 1
        assert "Too many requests" in refused.content.decode()
        assert refused["Referrer-Policy"] == "no-referrer" and "noindex" in refused["X-Robots-Tag"]
    assert client.get(page, REMOTE_ADDR="203.0.113.9").status_code == 200


def test_with_redis_out_of_reach_a_view_link_answers_503(client, tenant, deck, settings):
    page = view_url("deck", deck.pk).removeprefix(settings.PUBLIC_BASE_URL)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get(page)
    assert response.status_code == 503
    assert "Back in a moment" in response.content.decode()
    assert response["Content-Security-Policy"].startswith("default-src 'none';")


def test_an_ipv6_host_is_limited_across_its_64(client, tenant, deck, settings):
    settings.SHARE_LINK_RATE_LIMIT_PER_MINUTE = 3
    _, token = _link(tenant, deck)
    rotating = [
        client.get(f"/s/{token}", REMOTE_ADDR=f"2001:db8:1:2::{n:x}").status_code
        for n in range(1, 5)
    ]
    assert rotating == [200, 200, 200, 429]
    assert client.get(f"/s/{token}", REMOTE_ADDR="2001:db8:1:3::1").status_code == 200
    # An IPv4 client seen through an IPv6 socket is the IPv4 client.
    ipv4 = [client.get(f"/s/{token}", REMOTE_ADDR="203.0.113.7").status_code for _ in range(3)]
    assert client.get(f"/s/{token}", REMOTE_ADDR="::ffff:203.0.113.7").status_code == 429
    assert ipv4 == [200, 200, 200]


def test_a_forged_forwarded_for_does_not_dodge_the_limit(client, tenant, deck, settings):
    settings.SHARE_LINK_RATE_LIMIT_PER_MINUTE = 2
    settings.NUM_PROXIES = 1
    _, token = _link(tenant, deck)
    codes = [
        client.get(
            f"/s/{token}", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"1.2.3.{i}, 203.0.113.9"
        ).status_code
        for i in range(3)
    ]
    assert codes == [200, 200, 429]


def test_robots_txt_disallows_public_links(client, db):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert "Disallow: /s/" in response.content.decode()


def test_robots_txt_answers_head_as_get(client, db):
    checked = client.head("/robots.txt")
    assert (checked.status_code, checked.content) == (200, b"")
    assert checked["Content-Type"] == client.get("/robots.txt")["Content-Type"]


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_views_of_a_ten_view_link(live_server, tenant, deck, settings):
    settings.SHARE_LINK_RATE_LIMIT_PER_MINUTE = 1000
    link, token = _link(tenant, deck, max_views=10)
    with httpx.Client(timeout=30) as http, ThreadPoolExecutor(25) as pool:
        responses = list(pool.map(lambda _: http.get(f"{live_server.url}/s/{token}"), range(50)))
    codes = [response.status_code for response in responses]
    assert codes.count(200) == 10 and codes.count(404) == 40
    link.refresh_from_db()
    assert link.view_count == 10
    assert PublicLinkEvent.objects.filter(link=link).count() == 10


def test_with_redis_out_of_reach_a_link_answers_503_and_counts_no_view(
    client, tenant, deck, settings
):
    link, token = _link(tenant, deck)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get(f"/s/{token}")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "Back in a moment" in response.content.decode()
    assert response["Referrer-Policy"] == "no-referrer" and response["X-Robots-Tag"] == "noindex"
    # The public pages' own policy, as a link's 404 page has, and nothing of the site's.
    assert response["Content-Security-Policy"] == client.get("/s/")["Content-Security-Policy"]
    assert response["Content-Security-Policy"].startswith("default-src 'none';")
    link.refresh_from_db()
    assert link.view_count == 0


@pytest.mark.parametrize(
    "purpose",
    [
        {"HTTP_SEC_PURPOSE": "prefetch"},
        {"HTTP_SEC_PURPOSE": "prefetch;prerender"},
        {"HTTP_PURPOSE": "prefetch"},
    ],
)
def test_a_browsers_prefetch_spends_no_view_of_a_one_view_link(client, tenant, deck, purpose):
    link, token = _link(tenant, deck, max_views=1)
    logged = []
    handler = logging.Handler()
    handler.emit = logged.append
    logging.getLogger("django.request").addHandler(handler)
    try:
        prefetched = client.get(f"/s/{token}", **purpose)
    finally:
        logging.getLogger("django.request").removeHandler(handler)
    # Expected, not a server error: nothing for the error log.
    assert not logged
    assert prefetched.status_code == 503  # an error: the browser keeps nothing and asks again
    assert prefetched["Cache-Control"] == "private, no-store"
    link.refresh_from_db()
    assert link.view_count == 0 and not PublicLinkEvent.objects.exists()
    assert "Revenue up" in client.get(f"/s/{token}").content.decode()
    assert client.get(f"/s/{token}").status_code == 404


@pytest.mark.parametrize(
    "user_agent",
    [
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com",
        "facebookexternalhit/1.1 Facebot Twitterbot/1.0",
        "WhatsApp/2.23.20.0 A",
        "TelegramBot (like TwitterBot)",
    ],
)
def test_a_chat_apps_link_preview_spends_no_view_and_shows_nothing_shared(
    client, tenant, deck, user_agent
):
    link, token = _link(tenant, deck, max_views=1)
    _, another = _link(tenant, deck)

    preview = client.get(f"/s/{token}", HTTP_USER_AGENT=user_agent)
    other = client.get(f"/s/{another}", HTTP_USER_AGENT=user_agent)

    assert preview.status_code == other.status_code == 200
    assert preview.content == other.content
    assert "Revenue up" not in preview.content.decode()
    assert "<style" not in preview.content.decode()  # its policy allows only the stylesheet
    assert preview["Referrer-Policy"] == "no-referrer"
    link.refresh_from_db()
    assert link.view_count == 0 and not PublicLinkEvent.objects.exists()
    reader = "Mozilla/5.0 (Linux; Android 10; CUBOT X30) Chrome/120.0 Mobile Safari/537.36"
    assert "Revenue up" in client.get(f"/s/{token}", HTTP_USER_AGENT=reader).content.decode()
    assert client.get(f"/s/{token}", HTTP_USER_AGENT=reader).status_code == 404


PREVIEWERS = [
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com",
]
READER = "Mozilla/5.0 Firefox/130.0"


@pytest.mark.parametrize("user_agent", PREVIEWERS)
def test_a_chat_apps_preview_of_a_dead_share_link_answers_the_404_a_reader_gets(
    client, tenant, deck, user_agent
):
    for token in (*_dead_links(client, tenant, deck), "x" * 43):
        previewed = client.get(f"/s/{token}", HTTP_USER_AGENT=user_agent)
        read = client.get(f"/s/{token}", HTTP_USER_AGENT=READER)
        assert (previewed.status_code, previewed.content) == (404, read.content), token
        assert previewed["Content-Security-Policy"] == read["Content-Security-Policy"]


@pytest.mark.parametrize("user_agent", PREVIEWERS)
def test_a_chat_apps_preview_of_a_dead_view_link_answers_the_404_a_reader_gets(
    client, tenant, deck, settings, user_agent
):
    page, picture = _view_links(tenant, deck)
    gone = Deck.objects.create(tenant=tenant, title="Withdrawn")
    gone_page = view_url("deck", gone.pk).removeprefix(settings.PUBLIC_BASE_URL)
    gone.delete()
    gone_image = GeneratedImage.objects.create(tenant=tenant, prompt="owl", width=8, height=8)
    gone_picture = file_url("image", gone_image.pk).removeprefix(settings.PUBLIC_BASE_URL)
    gone_image.delete()
    with time_machine.travel(
        timezone.now() + timedelta(seconds=settings.GENERATION_VIEW_URL_MAX_AGE + 1)
    ):
        expired = [client.get(path, HTTP_USER_AGENT=user_agent) for path in (page, picture)]
    dead = [
        page.replace("/v/", "/v/x", 1),
        picture.replace("/v/", "/v/x", 1),
        f"{page}file",  # a page's token is no image's
        gone_page,
        gone_picture,
    ]

    previewed = expired + [client.get(path, HTTP_USER_AGENT=user_agent) for path in dead]

    read = client.get(dead[0], HTTP_USER_AGENT=READER)
    assert read.status_code == 404
    for response in previewed:
        assert (response.status_code, response.content) == (404, read.content)
        assert response["Content-Security-Policy"] == read["Content-Security-Policy"]
    # A suspended workspace's links are dead to a previewer too.
    tenant.is_active = False
    tenant.save()
    for path in (page, picture):
        suspended = client.get(path, HTTP_USER_AGENT=user_agent)
        assert (suspended.status_code, suspended.content) == (404, read.content), path


@pytest.mark.parametrize("user_agent", PREVIEWERS)
def test_a_chat_apps_preview_of_a_view_link_shows_nothing_shared_and_spends_no_limit(
    client, tenant, deck, settings, user_agent
):
    settings.SHARE_LINK_RATE_LIMIT_PER_MINUTE = 2
    page, picture = _view_links(tenant, deck)
    previewer = {"REMOTE_ADDR": "203.0.113.12", "HTTP_USER_AGENT": user_agent}
    _, token = _link(tenant, deck)
    shared = client.get(f"/s/{token}", **previewer)

    previews = [client.get(path, **previewer) for path in (page, picture) * 3]

    for preview in previews:
        assert (preview.status_code, preview.content) == (200, shared.content)
        assert preview["Content-Security-Policy"] == shared["Content-Security-Policy"]
        assert preview["Referrer-Policy"] == "no-referrer"
        assert "noindex" in preview["X-Robots-Tag"]
    assert "Quarterly review" not in shared.content.decode()
    # The previews spent nothing of the address's limit: a reader there has all of it.
    reader = {"REMOTE_ADDR": "203.0.113.12", "HTTP_USER_AGENT": "Mozilla/5.0 Firefox/130.0"}
    assert [client.get(page, **reader).status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.parametrize("kind", ["deck", "flashcards"])
def test_a_chat_apps_preview_of_a_view_link_reads_none_of_its_content(client, tenant, deck, kind):
    # A forged previewer's agent is counted against no limit: it must not read a whole artifact.
    generation = uuid.uuid4()
    for position in range(3):
        Flashcard.objects.create(
            tenant=tenant, generation_id=generation, question=f"Q{position}", answer="A"
        )
    page = view_url(kind, deck.pk if kind == "deck" else str(generation))
    previewer = {"HTTP_USER_AGENT": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"}

    with CaptureQueriesContext(connection) as queries:
        preview = client.get(page.removeprefix(settings.PUBLIC_BASE_URL), **previewer)

    assert preview.status_code == 200
    assert "A shared page" in preview.content.decode()
    assert len(queries) == 1
    read = " ".join(query["sql"] for query in queries)
    assert "generations_slide" not in read and "question" not in read


def test_a_forged_previewers_agent_reads_no_page_or_image_past_the_limit(
    client, tenant, deck, settings
):
    settings.SHARE_LINK_RATE_LIMIT_PER_MINUTE = 1
    page, picture = _view_links(tenant, deck)
    address = {"REMOTE_ADDR": "203.0.113.13"}
    assert client.get(picture, **address).getvalue().startswith(b"\x89PNG")
    assert client.get(picture, **address).status_code == 429
    for path in (page, picture):
        forged = client.get(path, HTTP_USER_AGENT="Slackbot 1.0", **address)
        assert forged["Content-Type"] == "text/html; charset=utf-8", path
        assert "Open the link in a browser to see it." in forged.content.decode()
        assert "Quarterly review" not in forged.content.decode()
    # Nor does it try links past the limit: one that does not open is counted as anyone's.
    for path in (page.replace("/v/", "/v/x", 1), "/s/" + "x" * 43):
        assert client.get(path, HTTP_USER_AGENT="Slackbot 1.0", **address).status_code == 429


def test_a_refused_method_answers_with_the_public_pages_headers(tenant, deck):
    link, token = _link(tenant, deck)
    client = Client(enforce_csrf_checks=True)  # as a browser or curl is treated: no CSRF token
    refused = [client.post(f"/s/{token}"), client.put(f"/s/{token}")]
    for response in refused:
        assert response.status_code == 405
        assert response["Allow"] == "GET, HEAD"
        assert response["Referrer-Policy"] == "no-referrer"
        assert "noindex" in response["X-Robots-Tag"]
    link.refresh_from_db()
    assert link.view_count == 0


def _headers(response) -> dict:
    """What a response says beside its body, but what differs from one request to the next."""
    return {
        name: value
        for name, value in response.headers.items()
        if name not in ("Date", "X-Request-Id")
    }


def test_a_head_request_answers_as_get_does_without_the_page_and_spends_no_view(tenant, deck):
    link, token = _link(tenant, deck, max_views=1)
    client = Client(enforce_csrf_checks=True)  # as a link checker or curl -I is treated

    checked = [client.head(f"/s/{token}", HTTP_USER_AGENT="curl/8.5.0") for _ in range(3)]

    assert [(response.status_code, response.content) for response in checked] == [(200, b"")] * 3
    link.refresh_from_db()
    assert link.view_count == 0 and not PublicLinkEvent.objects.exists()
    opened = client.get(f"/s/{token}", HTTP_USER_AGENT="curl/8.5.0")
    assert "Revenue up" in opened.content.decode()
    assert _headers(checked[0]) == _headers(opened)
    assert checked[0]["Content-Security-Policy"].startswith("default-src 'none';")
    # Used up, unknown: HEAD answers the one 404 GET does, and tells them apart no more than it.
    not_found = [
        client.head(f"/s/{token}"),
        client.get(f"/s/{token}"),
        client.head("/s/no-such-token-at-all"),
    ]
    assert [response.status_code for response in not_found] == [404] * 3
    assert _headers(not_found[0]) == _headers(not_found[1]) == _headers(not_found[2])
    assert not_found[0]["Referrer-Policy"] == "no-referrer"
    assert "noindex" in not_found[0]["X-Robots-Tag"]


def test_head_requests_count_against_the_per_address_limit(client, tenant, deck, settings):
    settings.SHARE_LINK_RATE_LIMIT_PER_MINUTE = 2
    link, token = _link(tenant, deck)
    address = {"REMOTE_ADDR": "203.0.113.11"}

    checked = [client.head(f"/s/{token}", **address) for _ in range(3)]

    assert [response.status_code for response in checked] == [200, 200, 429]
    assert int(checked[2]["Retry-After"]) >= 1
    assert checked[2]["Referrer-Policy"] == "no-referrer"
    assert "noindex" in checked[2]["X-Robots-Tag"]
    assert client.get(f"/s/{token}", **address).status_code == 429
    link.refresh_from_db()
    assert link.view_count == 0


@pytest.mark.django_db(transaction=True)
def test_a_link_checker_over_http_gets_the_pages_status_and_headers_and_no_view(
    live_server, tenant, deck
):
    link, token = _link(tenant, deck, max_views=1)
    with httpx.Client(timeout=30) as http:
        checked = http.head(f"{live_server.url}/s/{token}")
        opened = http.get(f"{live_server.url}/s/{token}")
        used_up = http.head(f"{live_server.url}/s/{token}")
    assert (checked.status_code, checked.content) == (200, b"")
    assert checked.headers["Content-Length"] == opened.headers["Content-Length"]
    assert checked.headers["Referrer-Policy"] == "no-referrer"
    assert "Revenue up" in opened.text
    assert (used_up.status_code, used_up.content) == (404, b"")
    link.refresh_from_db()
    assert link.view_count == 1


def test_other_paths_under_s_answer_the_links_404_page_with_its_headers(client, tenant, deck):
    link, token = _link(tenant, deck)
    expected = client.get("/s/unknown").content
    for path in (f"/s/{token}/", "/s/", f"/s/{token}/more"):
        response = client.get(path)
        assert (response.status_code, response.content) == (404, expected), path
        assert response["Referrer-Policy"] == "no-referrer"
        assert "noindex" in response["X-Robots-Tag"]
    link.refresh_from_db()
    assert link.view_count == 0


def test_view_links_and_image_files_answer_head_as_get_and_refuse_other_methods(tenant, deck):
    page, picture = _view_links(tenant, deck)
    client = Client(enforce_csrf_checks=True)
    for path, status in ((page, 200), (picture, 200), (page.removesuffix("/"), 301)):
        opened, checked = client.get(path), client.head(path)
        assert (opened.status_code, checked.status_code) == (status, status), path
        assert checked.getvalue() == b"" and (status == 301 or opened.getvalue())
        assert _headers(checked) == _headers(opened), path
        for refused in (client.post(path), client.put(path), client.delete(path)):
            assert refused.status_code == 405, path
            assert refused["Allow"] == "GET, HEAD"
            assert refused["Content-Security-Policy"].startswith("default-src 'none';")
            assert refused["Referrer-Policy"] == "no-referrer"
            assert "noindex" in refused["X-Robots-Tag"]


def test_a_view_link_that_does_not_open_answers_the_links_404_page(client, tenant, deck):
    expected = client.get("/s/unknown")
    assert "Ask whoever sent it to you for a new link." in expected.content.decode()
    signed = view_url("deck", deck.pk).removeprefix(settings.PUBLIC_BASE_URL)
    garbled = signed.replace("/v/", "/v/x", 1)
    for path in (garbled, f"{garbled}file", "/v/", "/v/a/b", f"{signed}more"):
        response = client.get(path)
        assert (response.status_code, response.content) == (404, expected.content), path
        assert response["Content-Security-Policy"] == expected["Content-Security-Policy"], path
        assert response["Referrer-Policy"] == "no-referrer"
        assert "noindex" in response["X-Robots-Tag"]
    # A link pasted without its trailing slash still opens, redirected as a public page answers.
    redirect = client.get(signed.removesuffix("/"))
    assert (redirect.status_code, redirect["Location"]) == (301, signed)
    assert redirect["Content-Security-Policy"] == expected["Content-Security-Policy"]
    assert redirect["Referrer-Policy"] == "no-referrer"
    assert client.get(signed.removesuffix("/"), follow=True).status_code == 200
    api = client.get("/api/v1/no-such-thing")
    assert (api.status_code, api["Content-Type"]) == (404, "application/problem+json")


def test_a_suspended_workspace_publishes_nothing(client, tenant, deck, settings):
    _, token = _link(tenant, deck)
    signed = view_url("deck", deck.pk).removeprefix(settings.PUBLIC_BASE_URL)
    image = GeneratedImage.objects.create(
        tenant=tenant, prompt="fox", file="generations/fox.png", width=64, height=64
    )
    picture = file_url("image", image.pk).removeprefix(settings.PUBLIC_BASE_URL)
    tenant.is_active = False
    tenant.save()
    assert [client.get(path).status_code for path in (f"/s/{token}", signed, picture)] == [404] * 3
    assert PublicLink.objects.get().view_count == 0
    assert not PublicLink.objects.usable().exists() and PublicLink.objects.unusable().exists()
    tenant.is_active = True
    tenant.save()
    assert client.get(f"/s/{token}").status_code == 200


def _image_with_its_file_gone(tenant):
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, format="PNG")
    name = default_storage.save(f"generations/{tenant.pk}/fox.png", ContentFile(png.getvalue()))
    image = GeneratedImage.objects.create(tenant=tenant, prompt="fox", file=name, width=8, height=8)
    default_storage.delete(name)
    return "image", image.pk, name


def _invoice_pdf_with_its_file_gone(tenant):
    invoice = InvoiceFactory(tenant=tenant)
    invoice.pdf_file.name = invoice.storage_path  # recorded, never stored
    invoice.save(update_fields=["pdf_file"])
    return "invoice_pdf", invoice.pk, invoice.storage_path


@pytest.mark.parametrize("shared", [_image_with_its_file_gone, _invoice_pdf_with_its_file_gone])
def test_a_shared_file_gone_from_the_storage_answers_the_404_page_and_is_logged(
    client, tenant, caplog, shared
):
    resource_type, resource_id, name = shared(tenant)
    link, token = share_link_create(
        tenant=tenant, resource_type=resource_type, resource_id=resource_id
    )
    unknown = client.get("/s/no-such-token-at-all")
    with caplog.at_level(logging.ERROR, logger="sharelinks.views"):
        response = client.get(f"/s/{token}")
    assert response.status_code == 404
    assert response.content == unknown.content
    assert response["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response["X-Robots-Tag"]
    assert any(name in record.getMessage() for record in caplog.records)
    link.refresh_from_db()
    assert link.view_count == 0


@pytest.mark.parametrize(
    "pasted",
    [
        "{base}/s/{token}?utm_source=chat",
        "{base}/s/{token}#top",
        " {base}/s/{token}/\n",
        "{base}/s%2F{token}",
        "{token}\n",
    ],
)
def test_a_leaked_link_is_revoked_by_the_url_that_opens_it_as_pasted(client, tenant, deck, pasted):
    link, token = _link(tenant, deck)
    call_command(
        "revoke_share_link",
        pasted.format(base=settings.PUBLIC_BASE_URL, token=token),
        stdout=io.StringIO(),
    )
    assert client.get(f"/s/{token}").status_code == 404


def test_a_token_never_starts_like_a_command_line_option(client, tenant, deck, monkeypatch):
    import secrets

    drawn = iter(["-" + "a" * 42, "b" * 43])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda nbytes: next(drawn))
    link, token = _link(tenant, deck)
    assert token == "b" * 43
    call_command("revoke_share_link", token, stdout=io.StringIO())
    assert client.get(f"/s/{token}").status_code == 404


@pytest.mark.parametrize(
    ("user_agent", "family"),
    [
        ("Mozilla/5.0 (Windows NT 10.0) Chrome/130.0 Safari/537.36 Edg/130.0", "edg"),
        ("Mozilla/5.0 (Windows NT 10.0) Chrome/130.0 Safari/537.36 OPR/115.0", "opr"),
        ("Mozilla/5.0 (Macintosh) Version/18.0 Safari/605.1.15", "safari"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1) Chrome/130.0 Safari/537.36", "bot"),
        ("curl/8.5.0", "curl"),
    ],
)
def test_a_view_records_the_browsers_family(client, tenant, deck, user_agent, family):
    link, token = _link(tenant, deck)
    assert client.get(f"/s/{token}", HTTP_USER_AGENT=user_agent).status_code == 200
    assert PublicLinkEvent.objects.get(link=link).user_agent == family


def test_an_operator_revokes_a_leaked_link_by_its_url_and_it_stops_opening(client, tenant, deck):
    link, token = _link(tenant, deck)
    url = f"{settings.PUBLIC_BASE_URL}/s/{token}"
    out = io.StringIO()
    call_command("revoke_share_link", url, stdout=out)
    assert out.getvalue() == f"Revoked share link {link.pk} ({link}) of alice.\n"
    assert client.get(f"/s/{token}").status_code == 404
    revoked = AuditEvent.objects.get(action="deactivate", resource_id=str(link.pk))
    assert revoked.actor_type == AuditEvent.ActorType.OPERATOR

    out = io.StringIO()
    call_command("revoke_share_link", str(link.pk), stdout=out)
    assert out.getvalue().startswith(f"Share link {link.pk} ({link}) of alice was already")
    assert "(revoked, " in out.getvalue()
    with pytest.raises(CommandError, match="No share link matches"):
        call_command("revoke_share_link", "no-such-token")


def test_revoke_share_link_names_the_time_zone_of_an_earlier_revocation(tenant, deck, settings):
    settings.TIME_ZONE = "Europe/Paris"
    link, token = _link(tenant, deck)
    share_link_revoke(link=link, actor=None)
    PublicLink.objects.filter(pk=link.pk).update(
        deactivated_at=datetime(2026, 7, 1, 22, 15, tzinfo=UTC)
    )
    out = io.StringIO()
    call_command("revoke_share_link", token, stdout=out)
    assert out.getvalue().endswith(" was already inactive (revoked, 2026-07-02 00:15 CEST).\n")
