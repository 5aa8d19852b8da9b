"""Generated text reads in its own direction: Arabic or Hebrew right to left, beside English."""

import pytest

from generations.models import Flashcard, Story
from jobs.models import Job
from sharelinks.services import share_link_create

pytestmark = pytest.mark.django_db(transaction=True)


def _direction(page, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "els => els.map(e => getComputedStyle(e).direction)")


def test_a_story_in_arabic_reads_right_to_left(page, live_server, tenant):
    story = Story.objects.create(
        tenant=tenant,
        status="ready",
        title="الخريطة",
        text="كان يا ما كان.\n\nThe map was old.",
        words=6,
    )
    _, token = share_link_create(tenant=tenant, resource_type="story", resource_id=story.pk)

    assert page.goto(f"{live_server.url}/s/{token}").status == 200

    assert _direction(page, "h1") == ["rtl"]
    assert _direction(page, "article p:not(.muted)") == ["rtl", "ltr"]
    assert _direction(page, "p.muted") == ["ltr"]


def test_each_flashcard_reads_in_its_own_direction(page, live_server, tenant):
    job = Job.objects.create(tenant=tenant, type="flashcard_generation", status="completed")
    for question, answer in [("מהי בירת ישראל?", "ירושלים"), ("Capital of Norway?", "Oslo")]:
        Flashcard.objects.create(
            tenant=tenant, job=job, generation_id=job.pk, question=question, answer=answer
        )
    _, token = share_link_create(tenant=tenant, resource_type="flashcard_set", resource_id=job.pk)

    assert page.goto(f"{live_server.url}/s/{token}").status == 200

    questions = _direction(page, ".question")
    assert sorted(questions) == ["ltr", "rtl"]
    assert _direction(page, ".answer") == questions
