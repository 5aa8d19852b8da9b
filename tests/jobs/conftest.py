import pytest


@pytest.fixture
def published(monkeypatch):
    """The wake-ups the engine publishes (the broker itself is tested end to end elsewhere)."""
    sent = []
    monkeypatch.setattr(
        "jobs.services.job_dispatch", lambda job, countdown=None: sent.append(job.pk) or True
    )
    return sent
