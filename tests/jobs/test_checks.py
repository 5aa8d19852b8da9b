from jobs.checks import visibility_timeout_covers_every_delay


def test_a_visibility_timeout_shorter_than_a_retry_delay_is_an_error(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60}
    errors = visibility_timeout_covers_every_delay(None)
    assert [error.id for error in errors] == ["jobs.E001"]


def test_the_default_visibility_timeout_covers_every_delay(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3 * 3600}
    assert visibility_timeout_covers_every_delay(None) == []
