"""Staff who may change users or groups, but are not superusers, give no more than they hold."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership
from tests.factories import MembershipFactory, UserFactory

PASSWORD = "A-new-password-for-the-test"


def _perms(*codenames: str):
    return Permission.objects.filter(codename__in=codenames)


@pytest.fixture
def staff(client, db):
    """A staff user who may manage users and groups, and see jobs: nothing else."""
    user = UserFactory(username="support@example.com", is_staff=True)
    user.user_permissions.set(
        _perms("view_user", "change_user", "delete_user", "view_group", "change_group", "view_job")
    )
    client.force_login(user)
    return user


def _user_form(user, **changes) -> dict:
    form = {
        "username": user.username,
        "email": user.email,
        "is_active": "on",
        "is_staff": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01",
        "initial-date_joined_1": "00:00:00",
    }
    return {**form, **changes}


def test_staff_cannot_make_themselves_superuser_or_give_themselves_more(
    client, staff, admin_client
):
    add_key = _perms("add_apikey").get()
    page = client.get(f"/admin/auth/user/{staff.pk}/change/").content.decode()
    assert 'name="is_superuser"' not in page
    assert f'value="{add_key.pk}"' not in page

    client.post(
        f"/admin/auth/user/{staff.pk}/change/",
        _user_form(staff, is_superuser="on", user_permissions=[add_key.pk]),
    )

    staff = type(staff).objects.get(pk=staff.pk)
    assert not staff.is_superuser
    assert not staff.has_perm("accounts.add_apikey")
    # A superuser grants anything.
    admin_client.post(
        f"/admin/auth/user/{staff.pk}/change/",
        _user_form(staff, is_superuser="on", user_permissions=[add_key.pk]),
    )
    staff = type(staff).objects.get(pk=staff.pk)
    assert staff.is_superuser
    assert add_key in staff.user_permissions.all()


def test_staff_give_others_only_what_they_hold(client, staff):
    colleague = UserFactory(username="colleague@example.com", is_staff=True)
    view_job, add_key = _perms("view_job").get(), _perms("add_apikey").get()

    refused = client.post(
        f"/admin/auth/user/{colleague.pk}/change/",
        _user_form(colleague, user_permissions=[view_job.pk, add_key.pk]),
    )
    assert refused.status_code == 200
    assert "is not one of the available choices" in refused.content.decode()
    assert not colleague.user_permissions.exists()

    client.post(
        f"/admin/auth/user/{colleague.pk}/change/",
        _user_form(colleague, user_permissions=[view_job.pk]),
    )
    assert list(colleague.user_permissions.all()) == [view_job]


def test_staff_join_no_group_that_holds_more_than_they_do(client, staff):
    keys = Group.objects.create(name="keys")
    keys.permissions.set(_perms("add_apikey"))
    watchers = Group.objects.create(name="watchers")
    watchers.permissions.set(_perms("view_job"))

    client.post(f"/admin/auth/user/{staff.pk}/change/", _user_form(staff, groups=[keys.pk]))
    assert not staff.groups.exists()

    client.post(f"/admin/auth/user/{staff.pk}/change/", _user_form(staff, groups=[watchers.pk]))
    assert list(staff.groups.all()) == [watchers]


def test_staff_give_a_group_only_permissions_they_hold(client, staff):
    ops = Group.objects.create(name="ops")
    staff.groups.add(ops)
    view_job, add_key = _perms("view_job").get(), _perms("add_apikey").get()

    client.post(f"/admin/auth/group/{ops.pk}/change/", {"name": "ops", "permissions": [add_key.pk]})
    staff = type(staff).objects.get(pk=staff.pk)
    assert not staff.has_perm("accounts.add_apikey")

    client.post(
        f"/admin/auth/group/{ops.pk}/change/", {"name": "ops", "permissions": [view_job.pk]}
    )
    assert list(ops.permissions.all()) == [view_job]


def test_a_group_holding_more_is_only_read(client, staff):
    keys = Group.objects.create(name="keys")
    keys.permissions.set(_perms("add_apikey"))

    assert client.get(f"/admin/auth/group/{keys.pk}/change/").status_code == 200
    client.post(f"/admin/auth/group/{keys.pk}/change/", {"name": "mine", "permissions": []})
    client.post(f"/admin/auth/group/{keys.pk}/delete/", {"post": "yes"})

    keys.refresh_from_db()
    assert keys.name == "keys"
    assert list(keys.permissions.all()) == list(_perms("add_apikey"))


@pytest.mark.parametrize(
    "who", ["superuser", "holds more", "inactive, holds more", "workspace admin"]
)
def test_staff_cannot_take_over_a_user_who_holds_more(client, staff, tenant, who):
    other = UserFactory(
        username="boss@example.com",
        is_staff=True,
        is_superuser=who == "superuser",
        is_active=who != "inactive, holds more",
    )
    if who in ("holds more", "inactive, holds more"):
        other.user_permissions.set(_perms("add_apikey"))
    if who == "workspace admin":
        MembershipFactory(tenant=tenant, user=other, role=Membership.Role.ADMIN)

    password = client.post(
        f"/admin/auth/user/{other.pk}/password/",
        {"password1": PASSWORD, "password2": PASSWORD, "usable_password": "true"},
    )
    client.post(
        f"/admin/auth/user/{other.pk}/change/",
        _user_form(other, email="support@example.com"),
    )
    client.post(
        "/admin/auth/user/",
        {"action": "delete_selected", "_selected_action": [other.pk], "post": "yes"},
    )

    assert password.status_code == 403
    other.refresh_from_db()
    assert not other.check_password(PASSWORD)
    assert other.email == "boss@example.com"


def test_staff_deleting_many_users_cost_the_queries_of_a_few(client, staff):
    users = [UserFactory() for _ in range(30)]

    def confirmation_queries(selected) -> int:
        with CaptureQueriesContext(connection) as queries:
            page = client.post(
                "/admin/auth/user/",
                {"action": "delete_selected", "_selected_action": [user.pk for user in selected]},
            )
        assert page.status_code == 200
        assert "Are you sure" in page.content.decode()
        return len(queries)

    assert confirmation_queries(users) == confirmation_queries(users[:2])
