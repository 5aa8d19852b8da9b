"""Every model registered in the admin opens: its list, its add form, and one object's page."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.staticfiles import finders
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, SolarSchedule

from accounts.models import AuditEvent, CreditEntry, Notification
from accounts.services import api_key_create, audit_record, notify_admins
from budgets.models import BudgetAlert
from core.models import IdempotencyRecord, MetricValue, NamedLock, RateLimitBucket
from core.scheduling import schedules_sync
from generations.models import (
    Block,
    Deck,
    Distractor,
    DrawnImage,
    Flashcard,
    GeneratedImage,
    SkillNode,
    SkillTree,
    Slide,
    Story,
)
from jobs.models import BeatSeen, Job, JobEvent, TaskRun, WorkerSeen
from sharelinks.services import share_link_create, share_link_view
from tests.budgets.factories import ProjectBudgetFactory, hours, material
from tests.factories import MembershipFactory
from tests.invoices.factories import InvoiceFactory, line


@pytest.fixture
def one_of_everything(tenant, admin_user):
    _everything(tenant, admin_user)


def _everything(tenant, admin_user, tag=""):
    """A row of every registered model, in `tenant`; `tag` tells apart what is unique."""
    MembershipFactory(tenant=tenant, user=admin_user)
    api_key, _ = api_key_create(tenant=tenant)
    job = Job.objects.create(tenant=tenant, type="diagnostic")
    JobEvent.objects.create(job=job, kind=JobEvent.Kind.STARTED, message="On a worker.")
    CreditEntry.objects.create(tenant=tenant, kind="grant", amount=1, balance_after=101)
    audit_record(tenant=tenant, resource=api_key, action=AuditEvent.Action.CREATE, actor=admin_user)
    notify_admins(tenant=tenant, kind="test", title="Hello", alert_key=f"smoke{tag}")
    TaskRun.objects.create(name="jobs_sweep")
    WorkerSeen.objects.create(hostname=f"w{tag}@h")
    now = timezone.now()
    BeatSeen.objects.create(hostname=f"b{tag}", pid=1, started_at=now, last_seen_at=now)
    IdempotencyRecord.objects.create(
        tenant=tenant, key="k", fingerprint="f", expires_at=timezone.now() + timedelta(hours=1)
    )
    RateLimitBucket.objects.create(key=f"k{tag}")
    NamedLock.objects.create(name=f"l{tag}", token="t", expires_at=timezone.now())
    schedules_sync()
    assert Notification.objects.exists()
    Group.objects.create(name=f"Support{tag}")
    MetricValue.objects.create(name="offload_jobs_submitted_total", field=f"{{{tag}}}", value=1)
    ClockedSchedule.objects.create(clocked_time=timezone.now())
    SolarSchedule.objects.create(event="sunrise", latitude=59.9, longitude=10.7 + len(tag))
    project = ProjectBudgetFactory(project__tenant=tenant, hours_budget=Decimal("10")).project
    hours(project, 9)
    material(project, 50)
    BudgetAlert.objects.create(
        tenant=tenant, project=project, type="hours", threshold=80, current_percentage=90
    )
    line(InvoiceFactory(tenant=tenant), "Work", 1, Decimal("100"), Decimal("25"))
    deck = Deck.objects.create(tenant=tenant, job=job, title="Deck")
    slide = Slide.objects.create(deck=deck, position=0, title="Slide")
    Block.objects.create(slide=slide, position=0, kind=Block.Kind.choices[0][0], text="Text")
    card = Flashcard.objects.create(tenant=tenant, job=job, question="Q?", answer="A.")
    Distractor.objects.create(tenant=tenant, job=job, flashcard=card, text="B.")
    tree = SkillTree.objects.create(tenant=tenant, job=job, name="Tree", node_count=1)
    SkillNode.objects.create(tree=tree, name="Root", depth=0, position=0)
    Story.objects.create(tenant=tenant, job=job, title="Story", text="Once.")
    GeneratedImage.objects.create(
        tenant=tenant, job=job, prompt="A fox", file="generations/fox.png", width=1, height=1
    )
    image_job = Job.objects.create(tenant=tenant, type="image_generation")
    DrawnImage.objects.create(
        tenant=tenant, job=image_job, position=0, file="generations/owl.png", width=1, height=1
    )
    _, token = share_link_create(tenant=tenant, resource_type="deck", resource_id=deck.pk)
    share_link_view(token=token, client_ip="203.0.113.9", user_agent="Mozilla/5.0 Firefox/130.0")
    AccessAttempt.objects.create(
        username=f"guess{tag}@example.com",
        ip_address="203.0.113.9",
        user_agent="curl/8.5.0",
        failures_since_start=5,
    )
    AccessLog.objects.create(username=admin_user.username, ip_address="203.0.113.9")


def _registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.mark.parametrize(
    ("model", "model_admin"), _registered(), ids=lambda value: getattr(value, "__name__", "")
)
def test_the_admin_pages_of_every_model_open(admin_client, one_of_everything, model, model_admin):
    opts = model._meta
    base = f"/admin/{opts.app_label}/{opts.model_name}/"
    changelist = admin_client.get(base)
    assert changelist.status_code == 200, f"{base}: {changelist.status_code}"
    assert admin_client.get(f"{base}?q=a").status_code == 200
    if model_admin.has_add_permission(changelist.wsgi_request):
        assert admin_client.get(f"{base}add/").status_code == 200
    obj = model._default_manager.first()
    assert obj is not None, f"one_of_everything has no {opts.label}"
    assert admin_client.get(f"{base}{obj.pk}/change/").status_code == 200


def test_no_admin_list_costs_a_query_per_row(admin_client, tenant, other_tenant, admin_user):
    _everything(tenant, admin_user)
    lists = [
        f"/admin/{model._meta.app_label}/{model._meta.model_name}/" for model, _ in _registered()
    ]

    def queries() -> dict[str, int]:
        counted = {}
        for url in lists:
            with CaptureQueriesContext(connection) as captured:
                assert admin_client.get(url).status_code == 200, url
            counted[url] = len(captured)
        return counted

    queries()  # the first request of a session reads what later ones find cached
    before = queries()
    _everything(other_tenant, admin_user, tag="2")
    after = queries()
    assert {url: (before[url], count) for url, count in after.items() if count != before[url]} == {}


def test_a_workspaces_page_costs_no_more_than_a_query_per_member(admin_client, tenant):
    page = f"/admin/accounts/tenant/{tenant.pk}/change/"
    MembershipFactory(tenant=tenant)
    admin_client.get(page)
    with CaptureQueriesContext(connection) as one:
        admin_client.get(page)
    for _ in range(10):
        MembershipFactory(tenant=tenant)
    with CaptureQueriesContext(connection) as eleven:
        assert admin_client.get(page).status_code == 200
    # The one left is the user's label beside each member's raw id field.
    assert len(eleven) - len(one) <= 10


def test_an_api_key_added_in_the_admin_is_shown_once(admin_client, tenant):
    response = admin_client.post(
        "/admin/accounts/apikey/add/",
        {"tenant": tenant.pk, "name": "from admin", "role": "member", "expires_in_days": "30"},
    )
    assert response.status_code == 200
    shown = re.findall(r"ofl_[\w-]+", response.content.decode())
    assert len(shown) == 1
    plaintext = shown[0]
    from accounts.models import ApiKey, api_key_hash

    api_key = ApiKey.objects.get(name="from admin")
    assert api_key.key_hash == api_key_hash(plaintext)
    assert api_key.expires_at is not None
    page = admin_client.get(f"/admin/accounts/apikey/{api_key.pk}/change/").content.decode()
    assert plaintext not in page


def test_the_admin_speaks_of_offload_and_names_every_app(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert "Offload administration" in page
    assert "Django administration" not in page
    assert '<a href="/api/docs/">View site</a>' in page
    for app in ["Tenants and access", "Jobs", "Budgets", "Generations", "Invoices", "Share links"]:
        assert f">{app}<" in page, app


@pytest.mark.parametrize(
    ("url", "listed"),
    [
        ("/admin/sharelinks/publiclink/?resource_type=deck", 1),
        ("/admin/sharelinks/publiclink/?resource_type=nothing-shared", 0),
        ("/admin/sharelinks/publiclinkevent/?user_agent=firefox", 1),
    ],
)
def test_a_share_link_filter_given_a_value_it_does_not_offer_lists_nothing(
    admin_client, one_of_everything, url, listed
):
    page = admin_client.get(url)

    assert page.status_code == 200
    assert page.context["cl"].result_count == listed


@pytest.mark.parametrize(
    "url",
    [
        "/admin/jobs/job/?status=%00",
        "/admin/jobs/job/?type=diagnostic%00",
        "/admin/jobs/job/?q=%00",
        "/admin/sharelinks/publiclink/?resource_type=deck%00",
        "/admin/django_celery_beat/periodictask/?enabled__exact=1&q=%00x",
    ],
)
def test_a_nul_character_in_an_admin_list_query_is_a_400(admin_client, one_of_everything, url):
    response = admin_client.get(url)

    assert response.status_code == 400
    assert response["X-Frame-Options"] == "DENY"


def test_every_admin_page_names_the_sites_icon(admin_client, client, tenant):
    icon = '<link rel="icon" href="/static/favicon.ico">'

    assert icon in client.get("/admin/login/").content.decode()
    for url in [
        "/admin/",
        "/admin/jobs/job/",
        "/admin/jobs/job/dashboard/",
        f"/admin/accounts/tenant/{tenant.pk}/change/",
        f"/admin/accounts/tenant/{tenant.pk}/delete/",
    ]:
        assert icon in admin_client.get(url).content.decode(), url
    assert finders.find("favicon.ico")  # collected into STATIC_ROOT, which serves it
