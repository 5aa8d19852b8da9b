"""The admin and the API docs, in a real browser, under the site's Content-Security-Policy: every
page works and the browser reports nothing the policy blocked."""

import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django_celery_beat.models import CrontabSchedule
from PIL import Image

from generations.models import GeneratedImage
from jobs.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


def _log_in(page, live_server, admin_user, next_url):
    page.goto(f"{live_server.url}/admin/login/?next={next_url}")
    page.fill("#id_username", admin_user.username)
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_url(f"**{next_url}")


def test_the_job_list_selects_all_and_offers_its_actions_and_the_dashboard_opens(
    page, problems, live_server, admin_user, tenant
):
    for _ in range(2):
        Job.objects.create(tenant=tenant, type="diagnostic", payload={}, status=Job.Status.FAILED)
    _log_in(page, live_server, admin_user, "/admin/jobs/job/")
    assert page.inner_text(".action-counter") == "0 of 2 selected"
    page.check("#action-toggle")
    assert page.inner_text(".action-counter") == "2 of 2 selected"
    assert all(box.is_checked() for box in page.query_selector_all("input[name=_selected_action]"))
    page.select_option("select[name=action]", "requeue_jobs")
    assert page.input_value("select[name=action]") == "requeue_jobs"
    page.click("text=Queue dashboard")
    page.wait_for_url("**/admin/jobs/job/dashboard/")
    assert page.is_visible("#concurrency-caps")
    assert problems == []


def test_a_generated_images_page_shows_its_preview_within_the_form(
    page, problems, live_server, admin_user, tenant
):
    picture = io.BytesIO()
    Image.new("RGB", (1200, 800), "teal").save(picture, "PNG")
    name = default_storage.save("generations/field.png", ContentFile(picture.getvalue()))
    image = GeneratedImage.objects.create(
        tenant=tenant, prompt="a teal field", file=name, width=1200, height=800
    )
    _log_in(page, live_server, admin_user, f"/admin/generations/generatedimage/{image.pk}/change/")
    preview = page.locator("img[alt='a teal field']")
    page.wait_for_function("document.querySelector(\"img[alt='a teal field']\").complete")
    assert round(preview.bounding_box()["width"]) == 320
    assert problems == []


def test_a_change_form_picks_a_date_from_its_calendar_and_adds_an_inline_row(
    page, problems, live_server, admin_user
):
    _log_in(page, live_server, admin_user, "/admin/invoices/invoice/add/")
    page.click("#calendarlink0")
    page.wait_for_selector("#calendarbox0", state="visible")
    page.click("#calendarbox0 .calendar-shortcuts a")
    assert page.input_value("#id_issue_date") != ""
    rows = "tr.form-row.dynamic-lines"
    assert page.locator(rows).count() == 1
    page.click(".add-row a")
    assert page.locator(rows).count() == 2
    assert problems == []


def test_a_new_api_key_takes_its_workspace_from_the_lookup_window_and_is_shown_once(
    page, problems, live_server, admin_user, tenant
):
    _log_in(page, live_server, admin_user, "/admin/accounts/apikey/add/")
    with page.expect_popup() as opened:
        page.click("#lookup_id_tenant")
    lookup = opened.value
    with lookup.expect_event("close"):
        # The click closes the window: nothing to wait for after it.
        lookup.click(f"a[data-popup-opener='{tenant.pk}']", no_wait_after=True)
    assert page.input_value("#id_tenant") == str(tenant.pk)
    page.fill("#id_name", "from the browser")
    page.click("input[name=_save]")
    page.wait_for_selector("#new-api-key")
    assert page.inner_text("#new-api-key").startswith("ofl_")
    assert problems == []


def test_a_periodic_task_form_translates_the_chosen_crontab(
    page, problems, live_server, admin_user
):
    crontab = CrontabSchedule.objects.create(minute="30", hour="2")
    _log_in(page, live_server, admin_user, "/admin/django_celery_beat/periodictask/add/")
    assert not page.is_visible(".field-crontab_translation")
    page.select_option("#id_crontab", str(crontab.pk))
    assert "Translation: At 02:30" in page.inner_text(".field-crontab .help")
    assert problems == []


def test_the_api_docs_list_the_operations_and_open_one(page, problems, live_server):
    page.goto(f"{live_server.url}/api/docs/")
    jobs = page.locator(".opblock-summary-path[data-path='/api/v1/jobs']").first
    jobs.wait_for(state="visible")
    jobs.click()
    page.locator(".opblock.is-open .opblock-body").first.wait_for(state="visible")
    assert problems == []
