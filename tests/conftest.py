import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from accounts import keycache
from core.metrics import metrics_flush
from core.redis import get_redis
from tests.factories import MembershipFactory, TenantFactory, UserFactory, api_key_for


@pytest.fixture(autouse=True)
def _clean_redis(settings):
    """Every test starts with empty rate-limit counters, locks, caches and metrics: this process's
    own cache too, whose figures (queue lengths, mean durations) outlive a test by up to 30 s, or
    until the clock catches up with a time a test travelled to."""
    metrics_flush()
    keycache.forget_all()
    caches["local"].clear()
    client = get_redis()
    if client is not None:
        client.flushdb()
    yield


def _client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def tenant(db):
    return TenantFactory(name="Alice's workspace", slug="alice", credit_balance=100)


@pytest.fixture
def other_tenant(db):
    return TenantFactory(name="Bob's workspace", slug="bob", credit_balance=100)


@pytest.fixture
def tenant_admin(tenant):
    return MembershipFactory(tenant=tenant, user=UserFactory(username="alice@example.com")).user


@pytest.fixture
def api_key(tenant):
    return api_key_for(tenant, name="alice key")


@pytest.fixture
def api_client(api_key):
    return _client_for(api_key)


@pytest.fixture
def member_api_client(tenant):
    return _client_for(api_key_for(tenant, name="alice member key", role="member"))


@pytest.fixture
def other_api_client(other_tenant):
    return _client_for(api_key_for(other_tenant, name="bob key"))


@pytest.fixture
def anonymous_client():
    return APIClient()
