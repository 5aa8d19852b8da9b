"""The job type registry: what a payload must be to be stored."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers

from core.errors import InvalidRequest
from invoices.services import INVOICE_PDF
from jobs.models import Job
from jobs.registry import JobType, job_type_get, job_type_register
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


def test_a_name_already_taken_is_refused_and_its_type_stays():
    with pytest.raises(ImproperlyConfigured) as refused:
        job_type_register(JobType(name="invoice_pdf", handler=_noop))
    assert str(refused.value) == (
        "Job type 'invoice_pdf' is already registered, handled by"
        " invoices.services.invoice_pdf_handle; give the new type another name."
    )
    assert job_type_get("invoice_pdf") is INVOICE_PDF


def test_registering_the_same_type_again_changes_nothing():
    registered = job_type_register(JobType(name="test_twice", handler=_noop, max_attempts=1))
    assert job_type_register(JobType(name="test_twice", handler=_noop, max_attempts=1))
    assert job_type_get("test_twice") is registered


@pytest.mark.parametrize("name", ["", "x" * 65, "word count", "word_count,", "wörter"])
def test_a_name_the_jobs_table_or_the_settings_cannot_hold_is_refused(name):
    with pytest.raises(ImproperlyConfigured) as refused:
        job_type_register(JobType(name=name, handler=_noop))
    assert str(refused.value) == (
        f"Job type name {name!r}: use 1 to 64 ASCII letters, digits, '_', '.' or '-'."
    )
    assert job_type_get(name) is None
