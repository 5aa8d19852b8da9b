"""The request id (and other log context) of the work in hand, for logs and problem bodies."""

import contextvars

_request_id = contextvars.ContextVar("request_id", default=None)
_log_context = contextvars.ContextVar("log_context", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> None:
    _request_id.set(value)


def log_context() -> dict:
    return _log_context.get() or {}


def fresh_log_context() -> contextvars.Token:
    return _log_context.set({})


def bind_log_context(**values) -> contextvars.Token:
    return _log_context.set({**log_context(), **values})


def unbind_log_context(token: contextvars.Token) -> None:
    _log_context.reset(token)
