"""What a handler raises to tell the engine how an attempt ended."""


class JobError(Exception):
    retryable = False

    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code
        self.message = message or code


class RetryableError(JobError):
    """May pass on its own (timeouts, provider 5xx and 429, storage errors): tried again later,
    no sooner than `retry_after` seconds when the other side said when (a 503's Retry-After)."""

    retryable = True

    def __init__(self, code: str, message: str = "", *, retry_after: float | None = None):
        super().__init__(code, message)
        self.retry_after = retry_after


class PermanentError(JobError):
    """Will fail again (bad input, provider 4xx, unusable model output): fails the job at once."""


class WaitForCapacity(Exception):  # noqa: N818 - a signal, not an error
    """A shared limit is full (a provider's requests per minute): try again after `delay` seconds
    without spending an attempt."""

    def __init__(self, delay: float, reason: str = ""):
        super().__init__(reason or f"waiting {delay:.1f}s for capacity")
        self.delay = delay
        self.reason = reason


class JobCanceled(Exception):  # noqa: N818 - a signal, not an error
    """Raised by `check_canceled()` when a cancel was requested; the job ends `canceled`."""


class JobLost(Exception):  # noqa: N818 - a signal, not an error
    """This worker no longer owns the job (it was reaped as stale or canceled): stop, write nothing."""
