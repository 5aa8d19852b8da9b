import pytest

from generations.models import Deck
from jobs.models import Job
from jobs.services import job_execute, job_submit
from sharelinks.models import PublicLink
from sharelinks.services import share_link_create
from tests.worker import running_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

NOTES = "# Tides\nThe moon pulls the oceans.\n- Spring tides\n- Neap tides\n# Waves\nWind makes waves on the surface."


def _local(url: str, live_server, settings) -> str:
    return live_server.url + url.removeprefix(settings.PUBLIC_BASE_URL)


def test_an_admin_requeues_a_dead_job_from_the_dashboard_and_sees_it_complete(
    page, live_server, admin_user, tenant
):
    dead = Job.objects.create(
        tenant=tenant,
        type="diagnostic",
        payload={"steps": 1, "step_seconds": 0, "fail_attempts": 0},
        status=Job.Status.FAILED,
        attempts=3,
        error_code="DIAGNOSTIC_FAILURE",
    )
    page.goto(f"{live_server.url}/admin/login/?next=/admin/jobs/job/dashboard/")
    page.fill("#id_username", admin_user.username)
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/jobs/job/dashboard/")
    assert "Queue dashboard" in page.content()
    page.click("#dead-letter-link")
    page.wait_for_url("**dead_letter=yes**")
    assert "DIAGNOSTIC_FAILURE" in page.content()
    with running_worker():
        page.check(f"input[name=_selected_action][value='{dead.pk}']")
        page.select_option("select[name=action]", "requeue_jobs")
        page.click("button[name=index]")
        page.wait_for_selector("text=Requeued 1 job(s).")
        wait_for(
            lambda: Job.objects.get(pk=dead.pk).status == Job.Status.COMPLETED,
            timeout=60,
            message="requeued job done",
        )
    page.goto(f"{live_server.url}/admin/jobs/job/{dead.pk}/change/")
    assert "Completed" in page.content()


def test_a_generated_deck_opens_from_its_view_url_and_its_slides_navigate(
    page, live_server, tenant, settings
):
    job = job_submit(
        tenant=tenant, type="deck_generation", payload={"text": NOTES, "title": "Oceans"}
    )
    job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    assert Deck.objects.filter(pk=job.result["deckId"]).exists()
    from jobs.api.serializers import JobSerializer

    view_url = JobSerializer(job).data["view_url"]
    page.goto(_local(view_url, live_server, settings))
    assert page.inner_text("h1") == "Oceans"
    assert page.inner_text("#position") == "1 / 2"
    assert page.is_visible("text=The moon pulls the oceans.")
    assert not page.is_visible("text=Wind makes waves on the surface.")
    page.click("#next")
    assert page.inner_text("#position") == "2 / 2"
    assert page.is_visible("text=Wind makes waves on the surface.")
    assert page.is_disabled("#next")
    page.keyboard.press("ArrowLeft")
    assert page.inner_text("#position") == "1 / 2"


def test_a_share_link_page_renders_counts_its_view_and_then_answers_404(
    page, live_server, tenant, settings
):
    deck = Deck.objects.create(tenant=tenant, title="Board meeting")
    deck.slides.create(position=0, title="Agenda").blocks.create(
        position=0, kind="paragraph", text="Budget first."
    )
    link, token = share_link_create(
        tenant=tenant, resource_type="deck", resource_id=deck.pk, max_views=1
    )
    response = page.goto(f"{live_server.url}/s/{token}")
    assert response.status == 200
    assert page.inner_text("h1") == "Board meeting"
    assert page.is_visible("text=Budget first.")
    link.refresh_from_db()
    assert link.view_count == 1
    again = page.goto(f"{live_server.url}/s/{token}")
    assert again.status == 404
    assert "This link is not available" in page.inner_text("h1")
    assert PublicLink.objects.get(pk=link.pk).view_count == 1
