"""The admin login refuses a username from an address after too many failed logins there."""

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tests.factories import UserFactory, api_key_for

PASSWORD = "correct horse battery staple"
ATTACKER = "203.0.113.5"
COLLEAGUE = "198.51.100.7"


@pytest.fixture
def staff(db):
    return UserFactory(username="root@example.com", is_staff=True, is_superuser=True)


def _log_in(client, password, *, address=ATTACKER, username="root@example.com", **headers):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
        **headers,
    )


def _fail(client, times, **kwargs):
    return [_log_in(client, f"guess {n}", **kwargs).status_code for n in range(times)]


def _logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def test_the_sixth_attempt_is_refused_even_with_the_right_password(staff):
    client = Client()

    assert _fail(client, 4) == [200, 200, 200, 200]
    fifth = _log_in(client, "guess 5")
    sixth = _log_in(client, PASSWORD)

    assert fifth.status_code == 429
    assert sixth.status_code == 429
    page = sixth.content.decode()
    assert "Too many failed logins for this username from your address" in page
    assert "refused for 15 more minutes, even with the right password" in page
    assert "Traceback" not in page
    assert 899 <= int(sixth["Retry-After"]) <= 900
    assert client.get("/admin/", REMOTE_ADDR=ATTACKER).status_code == 302  # to the login page


def test_the_lockout_page_says_nothing_of_whether_the_username_exists(staff):
    client = Client()
    _fail(client, 5)
    _fail(client, 5, username="nobody@example.com")

    known = _log_in(client, PASSWORD)
    unknown = _log_in(client, PASSWORD, username="nobody@example.com")

    assert (known.status_code, unknown.status_code) == (429, 429)
    assert known.content == unknown.content


def test_the_same_username_still_logs_in_from_another_address(staff):
    _fail(Client(), 5)

    assert _log_in(Client(), PASSWORD, address=COLLEAGUE).status_code == 302
    assert _log_in(Client(), PASSWORD).status_code == 429


def test_an_ipv6_client_is_locked_out_of_its_whole_64(staff):
    _fail(Client(), 5, address="2001:db8:1:2::1")

    assert _log_in(Client(), PASSWORD, address="2001:db8:1:2:ffff::9").status_code == 429
    assert _logged_in(_log_in(Client(), PASSWORD, address="2001:db8:1:3::1"))


def test_behind_a_proxy_the_address_it_saw_counts_not_what_the_client_wrote(settings, staff):
    settings.NUM_PROXIES = 1
    proxy = "127.0.0.1"
    # A client may prepend anything to X-Forwarded-For; the proxy appends the address it saw.
    for n in range(5):
        _log_in(
            Client(), f"guess {n}", address=proxy, HTTP_X_FORWARDED_FOR=f"10.9.9.{n}, {ATTACKER}"
        )

    refused = _log_in(Client(), PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR=ATTACKER)
    colleague = _log_in(Client(), PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR=COLLEAGUE)

    assert refused.status_code == 429
    assert _logged_in(colleague)


def test_a_successful_login_forgets_the_failures_before_it(staff):
    _fail(Client(), 4)
    assert _logged_in(_log_in(Client(), PASSWORD))

    assert _fail(Client(), 4) == [200, 200, 200, 200]
    assert _fail(Client(), 1) == [429]


def test_the_lock_ends_after_the_cool_off(staff):
    locked_at = timezone.now()
    with time_machine.travel(locked_at, tick=False):
        _fail(Client(), 5)

    with time_machine.travel(locked_at + timedelta(seconds=840), tick=False):
        still = _log_in(Client(), PASSWORD)
    with time_machine.travel(locked_at + timedelta(seconds=901), tick=False):
        after = _log_in(Client(), PASSWORD)

    assert still.status_code == 429
    assert still["Retry-After"] == "60"
    assert "refused for 1 more minute," in still.content.decode()
    assert _logged_in(after)


def test_attempts_refused_during_the_lock_do_not_extend_it(staff):
    locked_at = timezone.now()
    with time_machine.travel(locked_at, tick=False):
        _fail(Client(), 5)
    with time_machine.travel(locked_at + timedelta(seconds=600), tick=False):
        assert _fail(Client(), 3) == [429, 429, 429]

    with time_machine.travel(locked_at + timedelta(seconds=901), tick=False):
        assert _logged_in(_log_in(Client(), PASSWORD))


@pytest.mark.parametrize(
    "command",
    [
        ["axes_reset_ip_username", ATTACKER, "root@example.com"],
        ["axes_reset_username", "root@example.com"],
    ],
)
def test_an_operator_lifts_a_lock_with_a_command(staff, command):
    _fail(Client(), 5)
    out = StringIO()

    call_command(*command, stdout=out)

    assert out.getvalue() == "1 attempts removed.\n"
    assert _logged_in(_log_in(Client(), PASSWORD))


def test_the_api_answers_a_locked_out_address_as_before(staff, tenant):
    _fail(Client(), 5)
    key = api_key_for(tenant, name="ci")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}", REMOTE_ADDR=ATTACKER)

    assert _log_in(Client(), PASSWORD).status_code == 429
    assert api.get("/api/v1/me").status_code == 200
    assert api.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer ofl_wrong").status_code == 401


def test_the_hourly_purge_forgets_old_logins_and_failed_login_counts(staff, settings):
    from axes.models import AccessAttempt, AccessLog

    from jobs.tasks import jobs_purge

    settings.ADMIN_LOGIN_LOG_DAYS = 90
    start = timezone.now()
    with time_machine.travel(start - timedelta(days=91), tick=False):
        assert _logged_in(_log_in(Client(), PASSWORD, address=COLLEAGUE))
    with time_machine.travel(start - timedelta(seconds=901), tick=False):
        _fail(Client(), 2)
    # Every login clears the counts whose time has passed: none came after these in time.
    with time_machine.travel(start - timedelta(seconds=60), tick=False):
        assert _logged_in(_log_in(Client(), PASSWORD, address="192.0.2.9"))
        _fail(Client(), 1, username="else@example.com")

    outcome = jobs_purge()

    assert (outcome["admin_logins"], outcome["admin_login_counts"]) == (1, 1)
    assert list(AccessLog.objects.values_list("ip_address", flat=True)) == ["192.0.2.9"]
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == ["else@example.com"]
    out = StringIO()
    call_command("purge_jobs", stdout=out)
    assert "0 old admin logins, 0 expired failed-login counts and " in out.getvalue()


@pytest.mark.parametrize("address", ["", "unknown"], ids=["none", "not-an-address"])
def test_a_client_without_a_readable_address_is_locked_out_too(staff, address):
    # No REMOTE_ADDR (gunicorn behind a Unix socket), or a proxy that forwards no address.
    assert _fail(Client(), 5, address=address) == [200, 200, 200, 200, 429]

    assert _log_in(Client(), PASSWORD, address=address).status_code == 429
    assert _logged_in(_log_in(Client(), PASSWORD, address=COLLEAGUE))
