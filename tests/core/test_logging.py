import json
import logging

from django.conf import settings

from core.logging import ContextFilter
from core.request_context import (
    bind_log_context,
    reset_request_id,
    set_request_id,
    unbind_log_context,
)


def _formatted(formatter_name: str, **context) -> str:
    formatter_config = dict(settings.LOGGING["formatters"][formatter_name])
    factory = formatter_config.pop("()", None)
    if factory:
        from django.utils.module_loading import import_string

        formatter = import_string(factory)(
            **{key: value for key, value in formatter_config.items()}
        )
    else:
        formatter = logging.Formatter(formatter_config["format"])
    record = logging.LogRecord("offload.test", logging.INFO, __file__, 1, "claimed", None, None)
    request_token = set_request_id("req-123")
    context_token = bind_log_context(**context)
    try:
        ContextFilter().filter(record)
    finally:
        unbind_log_context(context_token)
        reset_request_id(request_token)
    return formatter.format(record)


def test_json_lines_carry_the_request_tenant_job_and_task():
    line = json.loads(_formatted("json", tenant="alice", job_id="j-1", task="jobs.job_execute"))
    assert line["message"] == "claimed"
    assert (line["request_id"], line["tenant"], line["job_id"], line["task"]) == (
        "req-123",
        "alice",
        "j-1",
        "jobs.job_execute",
    )


def test_readable_lines_carry_them_too():
    line = _formatted("text", job_id="j-2", task="jobs.job_execute")
    assert "[req-123 jobs.job_execute j-2]" in line and line.endswith("claimed")
