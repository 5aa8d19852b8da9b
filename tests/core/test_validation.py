"""data_validate answers as a fresh serializer's is_valid() would, with each call's own context."""

import threading

import pytest
from rest_framework import serializers

from core.validation import data_validate
from jobs.diagnostic import DiagnosticPayload


class ContextEcho(serializers.Serializer):
    name = serializers.CharField()
    arrived = threading.Barrier(2)

    def validate(self, attrs):
        tenant = self.context.get("tenant")
        if tenant is not None:
            self.arrived.wait(timeout=5)
        return {**attrs, "tenant": self.context.get("tenant")}


def test_valid_data_comes_back_with_defaults_filled_in():
    assert data_validate(DiagnosticPayload, {"steps": 2}) == {
        "steps": 2,
        "step_seconds": 0.2,
        "fail_attempts": 0,
    }


@pytest.mark.parametrize("data", [{"steps": -1, "step_seconds": "soon"}, ["steps"], None])
def test_invalid_data_raises_the_errors_is_valid_gives(data):
    fresh = DiagnosticPayload(data=data)
    assert not fresh.is_valid()
    with pytest.raises(serializers.ValidationError) as raised:
        data_validate(DiagnosticPayload, data)
    assert raised.value.detail == fresh.errors


def test_a_calls_context_does_not_outlive_it():
    ContextEcho.arrived = threading.Barrier(1)
    assert (
        data_validate(ContextEcho, {"name": "a"}, context={"tenant": "alice"})["tenant"] == "alice"
    )
    assert data_validate(ContextEcho, {"name": "b"})["tenant"] is None


def test_threads_validating_at_once_each_see_their_own_context():
    ContextEcho.arrived = threading.Barrier(2)
    seen = {}

    def validate(tenant):
        seen[tenant] = data_validate(ContextEcho, {"name": tenant}, context={"tenant": tenant})

    threads = [threading.Thread(target=validate, args=(tenant,)) for tenant in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {
        "alice": {"name": "alice", "tenant": "alice"},
        "bob": {"name": "bob", "tenant": "bob"},
    }
