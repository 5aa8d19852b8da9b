from functools import partial

from celery import shared_task

from jobs.runs import scheduled_run
from sharelinks.services import share_links_cleanup

LOCK_TTL = 3600


def share_link_cleanup_run(*, actor=None) -> dict:
    """One cleanup, recorded as a run of the schedule and never two at once; its audit events
    name `actor` when an operator runs it by hand."""
    return scheduled_run(
        "share_link_cleanup", partial(share_links_cleanup, actor=actor), lock_ttl=LOCK_TTL
    )


@shared_task(name="sharelinks.share_link_cleanup", ignore_result=True)
def share_link_cleanup() -> dict:
    """The nightly cleanup: expired and used-up links deactivated, old view events deleted."""
    return share_link_cleanup_run()
