from jobs.checks import (
    credit_costs_price_only_chargeable_types,
    per_type_settings_name_known_types,
    visibility_timeout_covers_every_delay,
)


def test_a_visibility_timeout_shorter_than_a_retry_delay_is_an_error(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60}
    errors = visibility_timeout_covers_every_delay(None)
    assert [error.id for error in errors] == ["jobs.E001"]


def test_the_default_visibility_timeout_covers_every_delay(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3 * 3600}
    assert visibility_timeout_covers_every_delay(None) == []


def test_a_cost_for_a_job_type_the_product_submits_itself_is_a_warning(settings):
    settings.JOB_CREDIT_COSTS = {"invoice_pdf": 2, "diagnostic": 1}
    warnings = credit_costs_price_only_chargeable_types(None)
    assert [warning.id for warning in warnings] == ["jobs.W001"]
    assert "invoice_pdf" in warnings[0].msg


def test_a_misspelt_job_type_in_a_per_type_setting_is_a_warning_naming_it(settings):
    settings.JOB_CREDIT_COSTS = {"story_generaton": 5, "story_generation": 5}
    settings.JOBS_TIME_LIMITS = {"invoce_pdf": 60}
    warnings = per_type_settings_name_known_types(None)
    assert [warning.msg for warning in warnings] == [
        "JOB_CREDIT_COSTS names story_generaton, which is no job type; it is ignored.",
        "JOBS_TIME_LIMITS names invoce_pdf, which is no job type; it is ignored.",
    ]
    assert "story_generation" in warnings[0].hint
