from django.conf import settings
from rest_framework.throttling import BaseThrottle

from accounts.authentication import Principal
from core.metrics import RATE_LIMIT_REJECTIONS, metric_inc
from core.ratelimit import Decision, Limit, rate_limit_hit

RATE_LIMIT_HEADERS_ATTR = "rate_limit_headers"


def rate_limit_headers_attach(request, decision: Decision) -> None:
    """Remember the headers for RateLimitHeadersMiddleware to add to whatever response follows."""
    setattr(getattr(request, "_request", request), RATE_LIMIT_HEADERS_ATTR, decision.headers())


class ReadRateThrottle(BaseThrottle):
    """A per-caller limit on reads (GET, HEAD), counted in the same atomic limiter as submissions.
    Unauthenticated requests are refused before throttling, so failed authentication spends nothing."""

    def allow_request(self, request, view):
        if request.method not in ("GET", "HEAD") or not isinstance(request.user, Principal):
            return True
        limit = Limit("reads", f"reads:{request.user.pk}", settings.RATE_LIMIT_READS_PER_MINUTE, 60)
        self.decision = rate_limit_hit([limit])
        rate_limit_headers_attach(request, self.decision)
        if not self.decision.allowed:
            metric_inc(RATE_LIMIT_REJECTIONS, limit="reads")
        return self.decision.allowed

    def wait(self):
        return self.decision.retry_after
