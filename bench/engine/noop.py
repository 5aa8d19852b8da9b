"""The baseline: a raw Celery task that does nothing but count itself."""

from celery import shared_task

from core.redis import get_redis


@shared_task(name="bench.noop", ignore_result=True)
def noop() -> None:
    get_redis().incr("bench:noop")
