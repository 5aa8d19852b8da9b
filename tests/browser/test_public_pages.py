"""The public pages and the error pages, in a real browser, under their own policies: styled, nothing
blocked, and usable from the keyboard and on a phone."""

import pytest

from generations.models import Flashcard
from generations.signing import view_url
from jobs.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


def _local(url: str, live_server, settings) -> str:
    return live_server.url + url.removeprefix(settings.PUBLIC_BASE_URL)


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
