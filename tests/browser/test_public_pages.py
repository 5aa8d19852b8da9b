"""The public pages and the error pages, in a real browser, under their own policies: styled, with
their icon, nothing blocked, and usable from the keyboard and on a phone."""

import io
from datetime import timedelta

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from generations.models import Deck, Flashcard, GeneratedImage, SkillTree, Story
from generations.signing import view_url
from jobs.models import Job
from sharelinks.services import share_link_create

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
LONG_WORD = "x" * 20_000
LONG_ADDRESS = "https://example.com/" + "a/" * 2_000


def _local(url: str, live_server, settings) -> str:
    return live_server.url + url.removeprefix(settings.PUBLIC_BASE_URL)


def _styled(page) -> bool:
    """The notice pages centre their text in a grid: unstyled, the body is a plain block."""
    return page.evaluate("getComputedStyle(document.body).display") == "grid"


def _has_its_icon(page) -> bool:
    """The page names an icon the site serves (naming none, it has the browser ask for
    /favicon.ico, a 404 in its console)."""
    href = page.eval_on_selector("link[rel=icon]", "link => link.href")
    icon = page.request.get(href)
    return icon.status == 200 and icon.headers["content-type"].startswith("image/")


def _page_errors(problems, url: str) -> list[str]:
    """The problems but the browser's note that the page itself answered an error status."""
    return [
        problem
        for problem in problems
        if not (problem.startswith("Failed to load resource") and problem.endswith(f"({url})"))
    ]


def test_the_404_page_is_styled_without_a_policy_violation(page, problems, live_server):
    response = page.goto(f"{live_server.url}/no-such-page")

    assert response.status == 404
    assert page.inner_text("h1") == "Page not found"
    assert _styled(page)
    assert _has_its_icon(page)
    assert _page_errors(problems, f"{live_server.url}/no-such-page") == []


def test_the_csrf_failure_page_is_styled_without_a_policy_violation(
    page, problems, live_server, admin_user
):
    page.goto(f"{live_server.url}/admin/login/")
    page.context.clear_cookies()
    page.fill("#id_username", admin_user.username)
    page.fill("#id_password", "password")
    with page.expect_navigation() as refused:
        page.click("input[type=submit]")

    assert refused.value.status == 403
    assert page.inner_text("h1") == "Forbidden"
    assert _styled(page)
    assert _page_errors(problems, f"{live_server.url}/admin/login/") == []


@pytest.mark.parametrize(
    "path",
    [
        "/s/no-such-link",
        "/v/no-such-link/",
        "/v/no-such-link/file",
        "/v/no/such/link",
    ],
)
def test_a_link_that_does_not_open_tells_its_holder_what_to_do(page, problems, live_server, path):
    response = page.goto(live_server.url + path)

    assert response.status == 404
    assert page.inner_text("h1") == "This link is not available"
    assert "Ask whoever sent it to you for a new link." in page.inner_text("main")
    assert "/api/v1/" not in page.content()
    assert _styled(page)
    assert _has_its_icon(page)
    assert _page_errors(problems, live_server.url + path) == []


def test_an_expired_view_link_tells_its_holder_what_to_do(
    page, problems, live_server, tenant, settings
):
    deck = Deck.objects.create(tenant=tenant, title="Board meeting")
    expired = _local(view_url("deck", deck.pk), live_server, settings)
    later = timezone.now() + timedelta(seconds=settings.GENERATION_VIEW_URL_MAX_AGE + 5)

    with time_machine.travel(later):
        response = page.goto(expired)

    assert response.status == 404
    assert "Ask whoever sent it to you for a new link." in page.inner_text("main")
    assert _page_errors(problems, expired) == []


def test_with_redis_out_of_reach_a_share_link_answers_a_styled_503(
    page, problems, live_server, tenant, settings
):
    deck = Deck.objects.create(tenant=tenant, title="Board meeting")
    _, token = share_link_create(tenant=tenant, resource_type="deck", resource_id=deck.pk)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    url = f"{live_server.url}/s/{token}"

    response = page.goto(url)

    assert response.status == 503
    assert page.inner_text("h1") == "Back in a moment"
    assert _styled(page)
    assert _has_its_icon(page)
    assert _page_errors(problems, url) == []


def _artifact_pages(tenant) -> list[tuple[str, int]]:
    title = "T" * 300  # as long as a title may be
    deck = Deck.objects.create(tenant=tenant, title=title)
    deck.slides.create(position=0, title=title).blocks.create(
        position=0, kind="paragraph", text=LONG_WORD
    )
    story = Story.objects.create(
        tenant=tenant, status="ready", title=title, text=LONG_ADDRESS, words=1
    )
    job = Job.objects.create(tenant=tenant, type="flashcard_generation", status="completed")
    Flashcard.objects.create(
        tenant=tenant, job=job, generation_id=job.pk, question=LONG_WORD, answer=LONG_ADDRESS
    )
    tree = SkillTree.objects.create(tenant=tenant, name=title, node_count=1, depth=1)
    tree.nodes.create(name=title, depth=0, position=0)
    picture = io.BytesIO()
    Image.new("RGB", (64, 64), "teal").save(picture, "PNG")
    name = default_storage.save("generations/teal.png", ContentFile(picture.getvalue()))
    image = GeneratedImage.objects.create(
        tenant=tenant, prompt=LONG_WORD, file=name, width=64, height=64
    )
    return [
        ("deck", deck.pk),
        ("story", story.pk),
        ("flashcards", str(job.pk)),
        ("skill_tree", tree.pk),
        ("image", image.pk),
    ]


def test_an_artifact_page_has_its_icon(page, problems, live_server, tenant, settings):
    deck = Deck.objects.create(tenant=tenant, title="Board meeting")

    page.goto(_local(view_url("deck", deck.pk), live_server, settings))

    assert page.inner_text("h1") == "Board meeting"
    assert _has_its_icon(page)
    assert problems == []


def test_long_words_and_addresses_wrap_within_a_phones_width(
    browser, live_server, tenant, settings
):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    widths = {}
    try:
        for kind, pk in _artifact_pages(tenant):
            page.goto(_local(view_url(kind, pk), live_server, settings))
            if kind == "flashcards":
                page.click(".card")  # its answer shown too
            widths[kind] = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
    finally:
        context.close()

    assert widths == dict.fromkeys(widths, [PHONE["width"], PHONE["width"]])


def test_space_and_enter_flip_a_focused_card_without_scrolling_the_page(
    page, problems, live_server, tenant, settings
):
    job = Job.objects.create(tenant=tenant, type="flashcard_generation", status="completed")
    for number in range(30):
        Flashcard.objects.create(
            tenant=tenant,
            job=job,
            generation_id=job.pk,
            question=f"Question {number}?",
            answer=f"Answer {number}",
        )
    page.goto(_local(view_url("flashcards", str(job.pk)), live_server, settings))
    page.keyboard.press("Tab")
    first = page.locator(".card").first
    assert page.evaluate("document.activeElement === document.querySelector('.card')")

    page.keyboard.press("Space")
    assert "flipped" in first.get_attribute("class")
    assert page.evaluate("window.scrollY") == 0
    page.keyboard.press("Enter")
    assert "flipped" not in first.get_attribute("class")
    assert page.evaluate("window.scrollY") == 0
    page.keyboard.press("Tab")
    page.keyboard.press(" ")
    assert "flipped" in page.locator(".card").nth(1).get_attribute("class")
    assert page.evaluate("window.scrollY") == 0
    assert problems == []
