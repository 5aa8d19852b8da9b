"""The job type registry: what a payload must be to be stored."""

import pytest
from rest_framework import serializers

from core.errors import InvalidRequest
from jobs.models import Job
from jobs.registry import JobType, job_type_register
from jobs.services import job_submit


class _Point(serializers.Serializer):
    x = serializers.FloatField()


class _Curve(serializers.Serializer):
    points = _Point(many=True)
    weights = serializers.ListField(child=serializers.FloatField())
    label = serializers.CharField(default="")


def _noop(ctx):
    return None


@pytest.fixture
def curve_type():
    return job_type_register(JobType(name="test_curve", handler=_noop, payload_serializer=_Curve))


def test_non_finite_numbers_are_invalid_at_their_path_and_nothing_is_written(tenant, curve_type):
    payload = {"points": [{"x": 1}, {"x": "nan"}], "weights": [0.5, "-inf", "1e999"], "label": "a"}
    with pytest.raises(InvalidRequest) as refused:
        job_submit(tenant=tenant, type="test_curve", payload=payload)
    assert refused.value.errors == {
        "payload": {
            "points": {1: {"x": ["A finite number is required."]}},
            "weights": {1: ["A finite number is required."], 2: ["A finite number is required."]},
        }
    }
    assert not Job.objects.exists()


def test_finite_numbers_are_stored_as_validated(tenant, curve_type):
    payload = {"points": [{"x": "2.5"}], "weights": [0.25, "-1e-3"]}
    job = job_submit(tenant=tenant, type="test_curve", payload=payload)
    job.refresh_from_db()
    assert job.payload == {"points": [{"x": 2.5}], "weights": [0.25, -0.001], "label": ""}


def test_a_type_without_a_payload_serializer_refuses_non_finite_numbers_too(tenant):
    job_type_register(JobType(name="test_free_form", handler=_noop))
    with pytest.raises(InvalidRequest) as refused:
        job_submit(
            tenant=tenant,
            type="test_free_form",
            payload={"nested": {"value": float("inf")}},
            payload_errors_under=None,
        )
    assert refused.value.errors == {"nested": {"value": ["A finite number is required."]}}
    assert not Job.objects.exists()
