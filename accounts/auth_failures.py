"""The limit on failed API authentications per client address: once an address has failed
RATE_LIMIT_AUTH_FAILURES_PER_MINUTE times within a minute, its requests are answered 429 without
their keys being looked up, until the oldest of those failures is a minute old. Failures spend
none of any key's limits (a key cannot be made to pay for someone guessing at it).

A key found in no cache is counted as a failure before it is looked up, and the count taken back
when it turns out valid: racing requests from one address never get more keys looked up than the
limit, and a successful request spends nothing. A key in use, which the web processes hold, costs
no look-up and is answered as usual."""

from django.conf import settings

from core.clientip import client_ip, client_limit_key
from core.errors import RateLimited
from core.metrics import RATE_LIMIT_REJECTIONS, metric_inc
from core.ratelimit import Decision, Limit, rate_limit_hit, rate_limit_refund

TOO_MANY_FAILURES = (
    "Too many failed authentications from this address: keys it sends are not checked until "
    "Retry-After seconds have passed."
)


class AuthenticationFailures:
    """A request's place in its client address's count of failed authentications."""

    def __init__(self, request):
        self.request = request
        self.reserved: Decision | None = None

    def reserve(self) -> None:
        """Before a key is looked up: count it as failed, or refuse it (429) when the address has
        no failure left."""
        self.reserved = self._hit()

    def failed(self) -> None:
        """The request failed to authenticate: counted, unless it was before its look-up."""
        if self.reserved is None:
            self._hit()

    def succeeded(self) -> None:
        if self.reserved is not None:
            rate_limit_refund(self.reserved)

    def _hit(self) -> Decision:
        address = client_limit_key(client_ip(self.request))
        limit = Limit(
            "auth-failures",
            f"auth-failures:{address}",
            settings.RATE_LIMIT_AUTH_FAILURES_PER_MINUTE,
            60,
        )
        decision = rate_limit_hit([limit])
        if not decision.allowed:
            metric_inc(RATE_LIMIT_REJECTIONS, limit="auth-failures")
            raise RateLimited(TOO_MANY_FAILURES, headers=decision.headers())
        return decision
