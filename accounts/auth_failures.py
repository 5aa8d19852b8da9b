"""The limit on failed API authentications per client address: once an address has failed
RATE_LIMIT_AUTH_FAILURES_PER_MINUTE times within a minute, its requests are answered 429 without
their keys being looked up, until the oldest of those failures is a minute old. Failures spend
none of any key's limits (a key cannot be made to pay for someone guessing at it).

A key found in no cache is looked up only when the address has a failure left, and counted only
when it turns out not valid (core.ratelimit.rate_limit_failure): racing requests from one address
never get more keys looked up than the limit, and a successful request spends nothing. A key in
use, which the web processes hold, costs no look-up and is answered as usual."""

from collections.abc import Callable

from django.conf import settings

from core.clientip import client_ip, client_limit_key
from core.errors import RateLimited
from core.metrics import RATE_LIMIT_REJECTIONS, metric_inc
from core.ratelimit import Decision, Limit, rate_limit_failure, rate_limit_hit

TOO_MANY_FAILURES = (
    "Too many failed authentications from this address: keys it sends are not checked until "
    "Retry-After seconds have passed."
)


class AuthenticationFailures:
    """A request's place in its client address's count of failed authentications."""

    def __init__(self, request):
        self.request = request
        self.counted = False

    def look_up(self, find: Callable[[], object]):
        """What `find` finds, run only when the address has a failure left (else 429), and
        counted as a failure when it finds nothing (None)."""
        decision, found = rate_limit_failure(self._limit(), find)
        self._refuse_unless_allowed(decision)
        self.counted = found is None
        return found

    def failed(self) -> None:
        """The request failed to authenticate: counted, unless its look-up counted it."""
        if not self.counted:
            self._refuse_unless_allowed(rate_limit_hit([self._limit()]))

    def _limit(self) -> Limit:
        address = client_limit_key(client_ip(self.request))
        return Limit(
            "auth-failures",
            f"auth-failures:{address}",
            settings.RATE_LIMIT_AUTH_FAILURES_PER_MINUTE,
            60,
        )

    def _refuse_unless_allowed(self, decision: Decision) -> None:
        if not decision.allowed:
            metric_inc(RATE_LIMIT_REJECTIONS, limit="auth-failures")
            raise RateLimited(TOO_MANY_FAILURES, headers=decision.headers())
