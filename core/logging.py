import logging

from core.redaction import redact
from core.request_context import current_request_id, log_context

CONTEXT_FIELDS = ("request_id", "tenant", "job_id", "task")


class ContextFilter(logging.Filter):
    """Adds the request id, tenant, job and task of the work in hand to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = {"request_id": current_request_id(), **log_context()}
        for field in CONTEXT_FIELDS:
            if not hasattr(record, field):
                setattr(record, field, context.get(field) or "-")
        return True


class RedactSecretsFilter(logging.Filter):
    """Share links and signed view links in a message (Django's request log, runserver's access
    log) are replaced by a placeholder."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
