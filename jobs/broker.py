"""What the broker itself says about the job queues."""

import base64
import json
import logging
from pathlib import Path

from django.conf import settings
from kombu.exceptions import ChannelError

from config.celery import app

logger = logging.getLogger(__name__)


def queue_backlogs(queues: list[str]) -> dict[str, int | None]:
    """Messages waiting in each queue at the broker, not counting those workers hold (None when
    the broker cannot be asked). A queue no one has declared yet, or emptied, has 0."""
    backlogs = {}
    try:
        with app.connection_for_write() as connection:
            for queue in queues:
                # A refused passive declare closes its channel (AMQP): one channel per queue.
                with connection.channel() as channel:
                    try:
                        backlogs[queue] = channel.queue_declare(
                            queue=queue, passive=True
                        ).message_count
                    except ChannelError:
                        backlogs[queue] = 0
    except Exception:  # noqa: BLE001 - an unreachable broker: the caller does without
        logger.warning("Could not read the queues' backlogs from the broker.", exc_info=True)
        return dict.fromkeys(queues)
    return backlogs


def broker_is_filesystem() -> bool:
    """Whether messages go through kombu's filesystem transport (the embedded default)."""
    return settings.CELERY_BROKER_URL.startswith("filesystem://")


def filesystem_queued_job_ids() -> set[str]:
    """The jobs whose wake-up waits on disk, on the filesystem broker (the embedded default): one
    file a message, its body the task's [args, kwargs, options]."""
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    queued = set()
    for path in folder.glob("*.msg"):
        try:
            message = json.loads(path.read_bytes())
            body = message["body"]
            if message["properties"].get("body_encoding") == "base64":
                body = base64.b64decode(body)
            _, kwargs, _ = json.loads(body)
            queued.add(kwargs["job_id"])
        except Exception:  # noqa: BLE001 - one odd file must not stop the others being read
            # Taken by the worker meanwhile (deleted), or not a job's wake-up.
            continue
    return queued
