import pytest

from core.metrics import JOBS_SUBMITTED, metric_inc
from core.models import MetricValue
from tests.concurrency import sessions_where
from tests.worker import wait_for


@pytest.mark.django_db(transaction=True)
def test_the_flusher_thread_keeps_no_database_session_once_it_has_written(settings):
    # Without Redis the flusher thread writes the counts to the database, on its own connection.
    settings.REDIS_URL = ""
    others = sessions_where("pid <> pg_backend_pid()")
    metric_inc(JOBS_SUBMITTED, type="diagnostic")
    wait_for(
        lambda: MetricValue.objects.filter(name=JOBS_SUBMITTED).exists(),
        message="the flusher to write the count",
    )
    # A session kept would be one more per process for its whole life, and keeps the test database
    # from being dropped at the end of the run.
    wait_for(
        lambda: sessions_where("pid <> pg_backend_pid()") <= others,
        timeout=5,
        message="the flusher's session to end",
    )
