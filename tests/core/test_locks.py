from datetime import timedelta

import pytest
from django.utils import timezone

from core.locks import named_lock
from core.models import NamedLock


@pytest.fixture(params=["redis", "database"])
def backend(request, settings, db):
    if request.param == "database":
        settings.REDIS_URL = ""
    return request.param


def test_a_held_lock_is_refused_to_a_second_holder_and_released_after(backend):
    with named_lock("job", ttl=30) as first:
        assert first
        with named_lock("job", ttl=30) as second:
            assert not second
    with named_lock("job", ttl=30) as again:
        assert again


def test_an_expired_database_lock_is_taken_over(settings, db):
    settings.REDIS_URL = ""
    NamedLock.objects.create(
        name="crashed", token="old", expires_at=timezone.now() - timedelta(seconds=1)
    )
    with named_lock("crashed", ttl=30) as acquired:
        assert acquired
    assert not NamedLock.objects.filter(name="crashed").exists()
