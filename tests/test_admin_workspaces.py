"""The admin keeps every object in its workspace and narrows lists to one workspace without
naming all of them."""

import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext

import accounts.admin
from accounts.admin import TenantAdmin, WorkspaceFilter
from accounts.models import ApiKey, CreditEntry, Tenant
from accounts.services import api_key_create, audit_record, credits_debit
from generations.models import Deck, SkillNode, SkillTree, Slide
from sharelinks.models import PublicLink, PublicLinkEvent
from tests.budgets.factories import ProjectFactory, hours
from tests.factories import TenantFactory
from tests.jobs.factories import JobFactory

NO_BUDGET = {
    "budget-TOTAL_FORMS": "0",
    "budget-INITIAL_FORMS": "0",
    "budget-MIN_NUM_FORMS": "0",
    "budget-MAX_NUM_FORMS": "1",
}


def test_a_project_stays_in_its_workspace_when_staff_edit_it(
    admin_client, tenant, other_tenant, other_api_client
):
    project = ProjectFactory(tenant=tenant, name="Bridge")
    hours(project, 37)
    response = admin_client.post(
        f"/admin/budgets/project/{project.pk}/change/",
        {
            "tenant": other_tenant.pk,
            "name": "Bridge (renamed)",
            "status": "active",
            "hourly_rate": "100",
            **NO_BUDGET,
        },
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.tenant_id) == ("Bridge (renamed)", tenant.pk)
    assert other_api_client.get(f"/api/v1/projects/{project.pk}/usage").status_code == 404


def test_an_api_key_stays_in_its_workspace(admin_client, tenant, other_tenant):
    api_key, _ = api_key_create(tenant=tenant, name="ci", role="admin")
    response = admin_client.post(
        f"/admin/accounts/apikey/{api_key.pk}/change/",
        {"tenant": other_tenant.pk, "name": "ci", "role": "admin"},
    )
    assert response.status_code == 302
    assert ApiKey.objects.get(pk=api_key.pk).tenant_id == tenant.pk
    # A new object still chooses its workspace.
    assert b'name="tenant"' in admin_client.get("/admin/budgets/project/add/").content


def test_a_slide_or_a_node_stays_in_the_artifact_it_was_made_in(
    admin_client, tenant, other_tenant, other_api_client
):
    deck = Deck.objects.create(tenant=tenant, title="Alice's deck")
    slide = Slide.objects.create(deck=deck, position=0, title="Alice's secret slide")
    theirs = Deck.objects.create(tenant=other_tenant, title="Bob's deck")
    response = admin_client.post(
        f"/admin/generations/slide/{slide.pk}/change/",
        {
            "deck": theirs.pk,
            "position": 0,
            "title": "Alice's secret slide",
            **{f"blocks-{name}": "0" for name in ("TOTAL_FORMS", "INITIAL_FORMS")},
        },
    )
    assert response.status_code == 302
    assert Slide.objects.get(pk=slide.pk).deck_id == deck.pk
    shown = other_api_client.get(f"/api/v1/decks/{theirs.pk}").json()
    assert "Alice's secret slide" not in str(shown)

    tree = SkillTree.objects.create(tenant=tenant, name="Alice's tree")
    root = SkillNode.objects.create(tree=tree, name="Root", depth=0, position=0)
    other_tree = SkillTree.objects.create(tenant=other_tenant, name="Bob's tree")
    added = admin_client.post(
        "/admin/generations/skillnode/add/",
        {"tree": other_tree.pk, "parent": root.pk, "name": "Leaf", "depth": 1, "position": 0},
    )
    assert added.status_code == 200 and "It is a node of another tree." in added.content.decode()
    assert not SkillNode.objects.filter(tree=other_tree).exists()


def test_lists_narrow_to_one_workspace_without_naming_every_workspace(admin_client, tenant, db):
    others = [TenantFactory(name=f"Workspace {n:02d}") for n in range(30)]
    ProjectFactory(tenant=tenant, name="Alice project")
    ProjectFactory(tenant=others[0], name="Their project")

    everything = admin_client.get("/admin/budgets/project/").content.decode()
    assert "Alice project" in everything and "Their project" in everything
    assert "Workspace 29" not in everything

    narrowed = admin_client.get("/admin/budgets/project/", {"tenant": tenant.pk})
    page = narrowed.content.decode()
    assert "Alice project" in page and "Their project" not in page
    assert narrowed.context["cl"].result_count == 1
    assert "Alice&#x27;s workspace" in page  # the chosen workspace, shown in the sidebar
    assert (
        admin_client.get("/admin/budgets/project/", {"tenant": "x"}).context["cl"].result_count == 0
    )


def test_a_workspaces_page_links_to_each_list_of_its_objects(
    admin_client, admin_user, tenant, other_tenant
):
    from tests.test_admin_smoke import _everything

    _everything(tenant, admin_user)
    _everything(other_tenant, admin_user, tag="2")
    page = admin_client.get(f"/admin/accounts/tenant/{tenant.pk}/change/").content.decode()
    linked = re.findall(rf'href="(/admin/\w+/\w+/)\?tenant={tenant.pk}"', page)

    # Every list narrowed to a workspace, but the parts of what is linked: a card's wrong
    # answers, the images a running job has drawn.
    narrowed = {
        f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for model, model_admin in admin.site._registry.items()
        if WorkspaceFilter in model_admin.list_filter
    }
    assert set(linked) == narrowed - {
        "/admin/generations/distractor/",
        "/admin/generations/drawnimage/",
    }
    for changelist in linked:
        listed = admin_client.get(changelist, {"tenant": tenant.pk}).context["cl"]
        assert listed.result_count >= 1, changelist
        assert {obj.tenant_id for obj in listed.result_list} == {tenant.pk}, changelist


@pytest.mark.parametrize(
    "changelist",
    [
        "/admin/generations/deck/",
        "/admin/generations/story/",
        "/admin/generations/generatedimage/",
        "/admin/budgets/timeentry/",
        "/admin/invoices/client/",
    ],
)
def test_a_workspaces_objects_are_found_by_its_slug(
    admin_client, admin_user, tenant, other_tenant, changelist
):
    from tests.test_admin_smoke import _everything

    _everything(tenant, admin_user)
    _everything(other_tenant, admin_user, tag="2")

    listed = admin_client.get(changelist, {"q": tenant.slug}).context["cl"]

    assert listed.result_count >= 1
    assert {obj.tenant_id for obj in listed.result_list} == {tenant.pk}


def test_the_credit_ledger_list_costs_the_same_queries_for_any_page_size(
    admin_client, tenant, django_assert_max_num_queries
):
    tenant.credit_balance = 1000
    tenant.save()
    for _ in range(40):
        credits_debit(tenant=tenant, amount=1, reason="Job", job=JobFactory(tenant=tenant))
    assert CreditEntry.objects.count() == 40
    with django_assert_max_num_queries(12):
        response = admin_client.get("/admin/accounts/creditentry/")
    assert response.status_code == 200


def test_a_workspace_with_many_jobs_is_not_deleted_in_the_admin_but_by_its_command(
    admin_client, tenant, other_tenant, monkeypatch
):
    monkeypatch.setattr(TenantAdmin, "ADMIN_DELETE_MAX_JOBS", 3)
    for _ in range(4):
        JobFactory(tenant=tenant)
    JobFactory(tenant=other_tenant)
    refusal = (
        "Alice&#x27;s workspace holds 4 jobs, too many to delete here: deactivate it, or run "
        "`manage.py delete_tenant alice`."
    )

    page = admin_client.post(f"/admin/accounts/tenant/{tenant.pk}/delete/", {"post": "yes"})
    assert page.status_code == 200 and refusal in page.content.decode()
    selected = admin_client.post(
        "/admin/accounts/tenant/",
        {"action": "delete_selected", "post": "yes", "_selected_action": [tenant.pk]},
    )
    assert refusal in selected.content.decode()
    assert Tenant.objects.filter(pk=tenant.pk).exists()

    response = admin_client.post(
        f"/admin/accounts/tenant/{other_tenant.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Tenant.objects.filter(pk=other_tenant.pk).exists()


def test_a_workspace_with_invoices_and_recorded_work_is_deleted_in_the_admin(
    admin_client, tenant, other_tenant
):
    from budgets.models import Project, TimeEntry
    from invoices.models import Client, Invoice
    from tests.budgets.factories import material
    from tests.invoices.factories import InvoiceFactory, line

    for workspace in (tenant, other_tenant):
        project = ProjectFactory(tenant=workspace)
        hours(project, 2)
        material(project, 10)
        line(InvoiceFactory(tenant=workspace, project=project), "Work", 1, 100, 25)
    page = admin_client.get(f"/admin/accounts/tenant/{tenant.pk}/delete/").content.decode()
    assert "Are you sure" in page and "protected" not in page

    response = admin_client.post(f"/admin/accounts/tenant/{tenant.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    for model in (Project, TimeEntry, Invoice, Client):
        assert set(model.objects.values_list("tenant", flat=True)) == {other_tenant.pk}, model


def test_members_and_the_workspace_edited_in_the_admin_are_in_its_audit_log(admin_client, tenant):
    from accounts.models import AuditEvent, Membership
    from tests.factories import UserFactory

    member = Membership.objects.create(tenant=tenant, user=UserFactory(), role="member")
    newcomer = UserFactory()
    response = admin_client.post(
        f"/admin/accounts/tenant/{tenant.pk}/change/",
        {
            "name": tenant.name,
            "slug": tenant.slug,
            "is_active": "",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-0-id": member.pk,
            "memberships-0-tenant": tenant.pk,
            "memberships-0-role": "admin",
            **_joining(tenant, newcomer),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    events = {
        (event.resource_type, event.action, tuple(event.changed_fields)): event
        for event in AuditEvent.objects.filter(tenant=tenant)
    }
    suspended = events[("accounts.tenant", "deactivate", ("is_active",))]
    assert (suspended.old_values, suspended.new_values) == (
        {"is_active": True},
        {"is_active": False},
    )
    promoted = events[("accounts.membership", "update", ("role",))]
    assert (promoted.new_values, promoted.actor_label) == ({"role": "admin"}, "admin")
    assert ("accounts.membership", "create", ("role", "tenant_id", "user_id")) in events


def test_a_workspace_deactivated_in_the_admin_is_so_as_by_the_command(admin_client, tenant):
    from django.contrib.messages import get_messages
    from rest_framework.test import APIClient

    from accounts.models import AuditEvent
    from tests.factories import api_key_for

    key = api_key_for(tenant)
    me = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert me.get("/api/v1/me").status_code == 200
    JobFactory(tenant=tenant)
    page = f"/admin/accounts/tenant/{tenant.pk}/change/"
    form = {
        "name": "Alice & co",
        "slug": tenant.slug,
        **{
            f"{prefix}-{name}": "0"
            for prefix in ("memberships", "new-members")
            for name in ("TOTAL_FORMS", "INITIAL_FORMS")
        },
    }

    response = admin_client.post(page, form, follow=True)

    assert response.status_code == 200
    assert "Canceled 1 pending job (credits refunded)." in [
        str(message) for message in get_messages(response.wsgi_request)
    ]
    assert me.get("/api/v1/me").status_code == 401
    admin_client.post(page, {**form, "is_active": "on"})
    assert me.get("/api/v1/me").status_code == 200
    events = AuditEvent.objects.filter(resource_type="accounts.tenant").order_by("id")
    assert [(e.action, e.old_values, e.new_values, e.actor_label) for e in events] == [
        ("deactivate", {"is_active": True}, {"is_active": False}, "admin"),
        ("update", {"name": "Alice's workspace"}, {"name": "Alice & co"}, "admin"),
        ("update", {"is_active": False}, {"is_active": True}, "admin"),
    ]


def test_a_workspace_deactivated_in_the_admin_stops_as_many_jobs_as_an_action_changes(
    admin_client, tenant, other_tenant, settings, monkeypatch
):
    from django.contrib.messages import get_messages

    from jobs.models import Job
    from jobs.services import job_claim, job_submit

    monkeypatch.setattr("accounts.admin.ACTION_MAX_OBJECTS", 3)
    settings.JOB_CREDIT_COSTS = {"diagnostic": 10}
    running = job_submit(tenant=tenant, type="diagnostic", payload={})
    job_claim(running.pk)
    pending = [job_submit(tenant=tenant, type="diagnostic", payload={}) for _ in range(4)]
    bobs = job_submit(tenant=other_tenant, type="diagnostic", payload={})
    form = {
        "name": tenant.name,
        "slug": tenant.slug,
        **{
            f"{prefix}-{name}": "0"
            for prefix in ("memberships", "new-members")
            for name in ("TOTAL_FORMS", "INITIAL_FORMS")
        },
    }

    response = admin_client.post(f"/admin/accounts/tenant/{tenant.pk}/change/", form, follow=True)

    assert [str(message) for message in get_messages(response.wsgi_request)][0] == (
        "Asked 1 running job to stop: it ends canceled at its next check. Canceled 2 pending jobs "
        "(credits refunded). 2 more pending jobs are left: each is canceled when a worker reaches "
        "it, or all at once by `manage.py deactivate_tenant alice`."
    )
    running.refresh_from_db()
    assert (running.status, running.cancel_requested) == (Job.Status.PROCESSING, True)
    # The oldest first.
    statuses = [Job.objects.get(pk=job.pk).status for job in pending]
    assert statuses == ["canceled", "canceled", "pending", "pending"]
    assert Job.objects.get(pk=bobs.pk).status == Job.Status.PENDING
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100 - 5 * 10 + 2 * 10


def test_a_large_tables_unfiltered_list_is_counted_from_the_estimate(
    admin_client, tenant, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.admin import EstimatedCountPaginator
    from accounts.models import AuditEvent

    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_ABOVE", 5)
    AuditEvent.objects.bulk_create(
        AuditEvent(
            tenant=tenant, resource_type="budgets.project", resource_id=str(n), action="create"
        )
        for n in range(12)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_auditevent")

    def counts(query: str) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            page = admin_client.get(f"/admin/accounts/auditevent/{query}")
        assert page.status_code == 200
        return [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]

    assert not [sql for sql in counts("") if "accounts_auditevent" in sql]
    # A filtered list is counted exactly, once: not the whole table as well.
    filtered = [sql for sql in counts("?action__exact=create") if "accounts_auditevent" in sql]
    assert len(filtered) == 1 and "WHERE" in filtered[0]


@pytest.mark.parametrize("how", ["page", "action"])
def test_a_user_deleted_in_the_admin_leaves_their_memberships_in_the_audit_log(
    admin_client, tenant, other_tenant, how
):
    from accounts.models import AuditEvent, Membership
    from tests.factories import UserFactory

    bob = UserFactory(username="bob@example.com")
    for workspace, role in ((tenant, "admin"), (other_tenant, "member")):
        Membership.objects.create(tenant=workspace, user=bob, role=role)

    if how == "page":
        response = admin_client.post(f"/admin/auth/user/{bob.pk}/delete/", {"post": "yes"})
    else:
        response = admin_client.post(
            "/admin/auth/user/",
            {"action": "delete_selected", "_selected_action": [bob.pk], "post": "yes"},
        )

    assert response.status_code == 302
    assert not Membership.objects.filter(user_id=bob.pk).exists()
    gone = AuditEvent.objects.filter(resource_type="accounts.membership", action="delete")
    assert sorted((event.tenant_id, event.old_values["role"]) for event in gone) == sorted(
        [(tenant.pk, "admin"), (other_tenant.pk, "member")]
    )
    assert {event.old_values["user_id"] for event in gone} == {bob.pk}
    assert {event.actor_label for event in gone} == {"admin"}


def test_a_workspaces_page_names_its_members_in_a_fixed_number_of_queries(admin_client, tenant):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import MembershipFactory

    def page_queries() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as captured:
            page = admin_client.get(f"/admin/accounts/tenant/{tenant.pk}/change/")
        assert page.status_code == 200
        return len(captured), page.content.decode()

    first = MembershipFactory(tenant=tenant)
    few, _ = page_queries()
    MembershipFactory.create_batch(20, tenant=tenant)
    many, page = page_queries()
    assert many == few
    assert first.user.username in page


def _joining(tenant, user, role="member") -> dict:
    """The workspace page's form fields adding `user` under *New members*."""
    return {
        "new-members-TOTAL_FORMS": "1",
        "new-members-INITIAL_FORMS": "0",
        "new-members-0-tenant": tenant.pk,
        "new-members-0-user": user.pk,
        "new-members-0-role": role,
    }


def _workspace_page_saved(admin_client, tenant, member, changes: dict):
    """The workspace's page saved with its one `member` as they are, and `changes` to its form."""
    return admin_client.post(
        f"/admin/accounts/tenant/{tenant.pk}/change/",
        {
            "name": tenant.name,
            "slug": tenant.slug,
            "is_active": "on",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-0-id": member.pk,
            "memberships-0-tenant": tenant.pk,
            "memberships-0-role": member.role,
            "new-members-TOTAL_FORMS": "0",
            "new-members-INITIAL_FORMS": "0",
            **changes,
        },
    )


def test_a_member_removed_on_the_workspaces_page_is_in_its_audit_log(admin_client, tenant):
    from accounts.models import AuditEvent, Membership
    from tests.factories import MembershipFactory

    member = MembershipFactory(tenant=tenant, role="member")
    response = _workspace_page_saved(admin_client, tenant, member, {"memberships-0-DELETE": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not Membership.objects.filter(pk=member.pk).exists()
    removed = AuditEvent.objects.get(resource_type="accounts.membership", action="delete")
    assert removed.old_values["user_id"] == member.user_id


def test_adding_someone_already_a_member_is_an_error_on_the_form(admin_client, tenant):
    from accounts.models import Membership
    from tests.factories import MembershipFactory

    member = MembershipFactory(tenant=tenant, role="member")
    joining = _joining(tenant, member.user, role="admin")
    response = _workspace_page_saved(admin_client, tenant, member, joining)
    assert response.status_code == 200
    assert f"{member.user} is already a member of this workspace." in response.content.decode()
    assert list(Membership.objects.values_list("user", "role")) == [(member.user_id, "member")]


def test_a_sent_invoice_stops_its_own_deletion_among_many_but_not_its_workspaces(
    admin_client, tenant, other_tenant
):
    from accounts.admin import DELETION_LISTED_PER_MODEL
    from accounts.models import Tenant
    from invoices.models import Invoice
    from tests.invoices.factories import ClientFactory, InvoiceFactory

    client = ClientFactory(tenant=tenant)
    sent = InvoiceFactory(tenant=tenant, client=client, status=Invoice.Status.SENT)
    drafts = [
        InvoiceFactory(tenant=tenant, client=client) for _ in range(DELETION_LISTED_PER_MODEL)
    ]
    InvoiceFactory(tenant=other_tenant, status=Invoice.Status.PAID)
    bulk = {"action": "delete_selected", "_selected_action": [sent.pk, *(d.pk for d in drafts)]}

    for selected in (bulk, {**bulk, "post": "yes"}):
        response = admin_client.post("/admin/invoices/invoice/", selected)
        assert response.status_code == 200
        page = response.content.decode()
        assert f"{sent}: The invoice is sent; only drafts can be deleted." in page
        assert "permission" not in page
    assert Invoice.objects.filter(tenant=tenant).count() == DELETION_LISTED_PER_MODEL + 1

    confirm = admin_client.get(f"/admin/accounts/tenant/{tenant.pk}/delete/").content.decode()
    assert "Are you sure" in confirm and "permission" not in confirm
    workspace = admin_client.post(f"/admin/accounts/tenant/{tenant.pk}/delete/", {"post": "yes"})
    assert workspace.status_code == 302
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    assert list(Invoice.objects.values_list("tenant", flat=True)) == [other_tenant.pk]


LONG_HISTORY = (
    "Alice&#x27;s workspace holds more than 5 rows (credit ledger, audit log, share links, "
    "entries…), too many to delete here: deactivate it, or run `manage.py delete_tenant alice`."
)


def _refused_counting_a_few_at_a_time(request, refusal: str, table: str) -> None:
    """The deletion `request()` asks for is refused with `refusal`, and `table`'s rows were
    counted a few at a time, never read whole: at volume that is seconds and a failed page."""
    with CaptureQueriesContext(connection) as captured:
        page = request()
    assert page.status_code == 200 and refusal in page.content.decode()
    read = [q["sql"] for q in captured if f'FROM "{table}"' in q["sql"]]
    assert read and all("LIMIT" in sql for sql in read), read


def test_a_workspace_with_a_long_history_is_refused_before_its_rows_are_collected(
    admin_client, tenant, other_tenant, monkeypatch
):
    # Its jobs purged long ago, a year of ledger and audit log is what a workspace holds.
    monkeypatch.setattr(accounts.admin, "DELETION_MAX_ROWS", 5)
    for n in range(6):
        audit_record(tenant=tenant, resource=tenant, action="update", metadata={"n": n}, actor=None)
    _refused_counting_a_few_at_a_time(
        lambda: admin_client.get(f"/admin/accounts/tenant/{tenant.pk}/delete/"),
        LONG_HISTORY,
        "accounts_auditevent",
    )
    assert Tenant.objects.filter(pk=tenant.pk).exists()


def test_a_workspace_whose_share_link_was_viewed_often_is_refused_before_its_views_are_read(
    admin_client, tenant, monkeypatch
):
    # One link, viewed more times than the admin deletes at once: the views go with the link.
    monkeypatch.setattr(accounts.admin, "DELETION_MAX_ROWS", 5)
    link = PublicLink.objects.create(
        tenant=tenant, resource_type="deck", resource_id="1", token_hash="a" * 64, token_prefix="a"
    )
    PublicLinkEvent.objects.bulk_create([PublicLinkEvent(link=link) for _ in range(6)])
    _refused_counting_a_few_at_a_time(
        lambda: admin_client.get(f"/admin/accounts/tenant/{tenant.pk}/delete/"),
        LONG_HISTORY,
        "sharelinks_publiclinkevent",
    )
    assert PublicLinkEvent.objects.count() == 6


def test_workspaces_selected_together_are_refused_before_their_rows_are_collected(
    admin_client, tenant, other_tenant, monkeypatch
):
    # Each within what the admin deletes at once, the two together more.
    monkeypatch.setattr(accounts.admin, "DELETION_MAX_ROWS", 5)
    for workspace in (tenant, other_tenant):
        for n in range(3):
            audit_record(
                tenant=workspace, resource=workspace, action="update", metadata={"n": n}, actor=None
            )
    bulk = {"action": "delete_selected", "_selected_action": [tenant.pk, other_tenant.pk]}

    _refused_counting_a_few_at_a_time(
        lambda: admin_client.post("/admin/accounts/tenant/", bulk),
        "These 2 workspaces hold more than 5 rows",
        "accounts_auditevent",
    )
    assert Tenant.objects.filter(pk__in=[tenant.pk, other_tenant.pk]).count() == 2


def test_a_workspace_of_many_members_lists_them_from_a_link_and_still_takes_new_ones(
    admin_client, tenant, monkeypatch
):
    from accounts.models import Membership
    from tests.factories import UserFactory

    monkeypatch.setattr(TenantAdmin, "MEMBERS_ON_PAGE_MAX", 3)
    for _ in range(4):
        Membership.objects.create(tenant=tenant, user=UserFactory(), role="member")
    page = admin_client.get(f"/admin/accounts/tenant/{tenant.pk}/change/").content.decode()
    assert "memberships-0-role" not in page
    assert f'<a href="/admin/accounts/membership/?tenant={tenant.pk}">members</a>' in page
    listed = admin_client.get(f"/admin/accounts/membership/?tenant={tenant.pk}")
    assert listed.context["cl"].result_count == 4

    newcomer = UserFactory()
    response = admin_client.post(
        f"/admin/accounts/tenant/{tenant.pk}/change/",
        {
            "name": "Renamed",
            "slug": tenant.slug,
            "is_active": "on",
            **_joining(tenant, newcomer),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Membership.objects.filter(tenant=tenant).count() == 5
    assert Tenant.objects.get(pk=tenant.pk).name == "Renamed"

    monkeypatch.setattr(TenantAdmin, "MEMBERS_ON_PAGE_MAX", 5)
    page = admin_client.get(f"/admin/accounts/tenant/{tenant.pk}/change/").content.decode()
    assert "memberships-4-role" in page


def test_a_page_opened_before_the_workspace_grew_past_the_limit_saves_its_members_changes(
    admin_client, tenant, monkeypatch
):
    from accounts.models import Membership
    from tests.factories import MembershipFactory

    member = MembershipFactory(tenant=tenant, role="member")
    monkeypatch.setattr(TenantAdmin, "MEMBERS_ON_PAGE_MAX", 0)

    response = _workspace_page_saved(admin_client, tenant, member, {"memberships-0-role": "admin"})

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Membership.objects.get(pk=member.pk).role == "admin"


def test_a_large_tables_list_offers_its_first_pages_only(admin_client, tenant, monkeypatch):
    from django.contrib import admin
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import AuditEvent

    paginator = admin.site.get_model_admin(AuditEvent).paginator
    monkeypatch.setattr(paginator, "PAGES_MAX", 2, raising=False)
    AuditEvent.objects.bulk_create(
        AuditEvent(
            tenant=tenant, resource_type="budgets.project", resource_id=str(n), action="create"
        )
        for n in range(301)
    )
    url = "/admin/accounts/auditevent/"

    page = admin_client.get(url).content.decode()
    # Every row counted, the pages beyond the second not offered.
    assert "301 audit events" in page
    assert 'href="?p=2"' in page and "?p=3" not in page
    assert admin_client.get(f"{url}?p=2").status_code == 200
    # A page further on is not read past the rows before it: the list's first page opens.
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(f"{url}?p=3")
    assert response.status_code == 302 and response["Location"] == f"{url}?e=1"
    assert not [q["sql"] for q in captured if "OFFSET" in q["sql"]]


def test_saving_a_workspace_page_keeps_credits_spent_while_it_saved(admin_client, tenant):
    """A job charged (or refunded) between the page's read of the workspace and its write: the
    write is of the page's fields only, never of the balance as the page read it."""
    spent = []

    def charge_first(execute, sql, params, many, context):
        if not spent and sql.startswith(f'UPDATE "{Tenant._meta.db_table}"'):
            spent.append(7)
            credits_debit(tenant=tenant, amount=7, reason="A job elsewhere")
        return execute(sql, params, many, context)

    form = {
        "name": "Alice & co",
        "slug": tenant.slug,
        "is_active": "on",
        **{
            f"{prefix}-{name}": "0"
            for prefix in ("memberships", "new-members")
            for name in ("TOTAL_FORMS", "INITIAL_FORMS")
        },
    }
    with connection.execute_wrapper(charge_first):
        response = admin_client.post(f"/admin/accounts/tenant/{tenant.pk}/change/", form)

    assert response.status_code == 302
    assert spent
    tenant.refresh_from_db()
    assert (tenant.name, tenant.credit_balance) == ("Alice & co", 100 - 7)
    assert CreditEntry.objects.filter(tenant=tenant).order_by("-id").first().balance_after == 93
