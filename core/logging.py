import copy
import logging
import logging.config

from core.redaction import redact
from core.request_context import current_request_id, log_context

CONTEXT_FIELDS = ("request_id", "tenant", "job_id", "task")


class ContextFilter(logging.Filter):
    """Adds the request id, tenant, job and task of the work in hand to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = {"request_id": current_request_id(), **log_context()}
        # Django logs a 4xx or 5xx answer once the middleware has finished with the request, and
        # passes the request itself along: its id is still on it.
        context["request_id"] = (
            getattr(getattr(record, "request", None), "request_id", None) or (context["request_id"])
        )
        for field in CONTEXT_FIELDS:
            if not hasattr(record, field):
                setattr(record, field, context.get(field) or "-")
        return True


def configure(config: dict) -> None:
    """Django's LOGGING_CONFIG: the settings' LOGGING, and Python's warnings (a deprecated call, a
    missing static files directory) written as log lines in its format rather than printed as is."""
    logging.config.dictConfig(config)
    logging.captureWarnings(True)


def program_logging(config: dict, loglevel: int | None, logfile: str | None) -> dict:
    """The settings' LOGGING for a worker or beat started with `-l <level>` and `-f <file>`: a level
    more verbose than LOG_LEVEL lowers the root's to it (`-l debug`; Django's own lines stay at
    INFO at most), and the lines go to the file rather than to stderr."""
    config = copy.deepcopy(config)
    if loglevel and loglevel < logging.getLevelName(config["root"]["level"]):
        config["root"]["level"] = logging.getLevelName(loglevel)
    if logfile:
        config["handlers"]["console"] = {
            **config["handlers"]["console"],
            "class": "logging.handlers.WatchedFileHandler",
            "filename": logfile,
            "encoding": "utf-8",
        }
    return config


def formatter(config: dict) -> logging.Formatter:
    """A formatter of the settings' LOGGING (its `config` there), for handlers the settings do not
    make (gunicorn's own)."""
    return logging.config.DictConfigurator({}).configure_formatter(dict(config))


# What every LogRecord has; anything else was passed as `extra` and a JSON log writes it out.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class RedactSecretsFilter(logging.Filter):
    """Share links and signed view links are replaced by a placeholder in a record's message
    (Django's request log, runserver's access log) and in its extras (Django's request log passes
    the request itself, whose text names its path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        for name, value in list(vars(record).items()):
            if name in _RECORD_ATTRIBUTES or isinstance(value, int | float | bool | None):
                continue
            text = value if isinstance(value, str) else str(value)
            if redact(text) != text:
                setattr(record, name, redact(text))
        return True


class OutageLog:
    """The log of a background loop's dependency: the first failure of an outage is a warning
    with its traceback, the repeats while it lasts are debug lines, and the recovery is one info
    line; so a loop retrying every second does not bury the log in identical tracebacks."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger
        self.down = False

    def failed(self, message: str, *args) -> None:
        if self.down:
            self.logger.debug(message, *args, exc_info=True)
        else:
            self.down = True
            self.logger.warning(message, *args, exc_info=True)

    def recovered(self, message: str, *args) -> None:
        if self.down:
            self.down = False
            self.logger.info(message, *args)
