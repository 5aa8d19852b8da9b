from celery import shared_task

from jobs.runs import scheduled_run
from sharelinks.services import share_links_cleanup


@shared_task(name="sharelinks.share_link_cleanup", ignore_result=True)
def share_link_cleanup() -> dict:
    """The nightly cleanup: expired and used-up links deactivated, old view events deleted."""
    return scheduled_run("share_link_cleanup", share_links_cleanup, lock_ttl=3600)
