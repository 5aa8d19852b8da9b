from core.scheduling import Schedule


def schedules() -> list[Schedule]:
    # 02:00 in TIME_ZONE.
    return [
        Schedule(
            name="share-link-cleanup", task="sharelinks.share_link_cleanup", crontab="0 2 * * *"
        )
    ]
