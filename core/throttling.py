from django.conf import settings
from rest_framework.throttling import BaseThrottle

from accounts.authentication import Principal
from core.errors import RateLimited
from core.metrics import RATE_LIMIT_REJECTIONS, metric_inc
from core.ratelimit import Decision, Limit, rate_limit_hit

RATE_LIMIT_HEADERS_ATTR = "rate_limit_headers"


def rate_limit_headers_attach(request, decision: Decision) -> None:
    """Remember the headers for RateLimitHeadersMiddleware to add to whatever response follows."""
    setattr(getattr(request, "_request", request), RATE_LIMIT_HEADERS_ATTR, decision.headers())


def _view_answers(view, method: str) -> bool:
    """Whether DRF will dispatch `method` to a handler of `view` rather than answer 405."""
    method = method.lower()
    return method in view.http_method_names and hasattr(view, method)


class RequestRateThrottle(BaseThrottle):
    """A per-caller limit on reads (GET, HEAD) and one on writes (POST, PUT, PATCH, DELETE), counted
    in the same atomic limiter as submissions. A view that submits jobs (`submits_jobs`) leaves its
    POST to the submission limits, so a submission they refuse spends no write either.
    Unauthenticated requests are refused before throttling, so failed authentication spends nothing,
    and so does a method the view does not answer (its 405 is about the request, not the caller's
    pace)."""

    def allow_request(self, request, view):
        if not isinstance(request.user, Principal) or not _view_answers(view, request.method):
            return True
        if request.method in ("GET", "HEAD"):
            name, quota = "reads", settings.RATE_LIMIT_READS_PER_MINUTE
        elif request.method in ("PUT", "PATCH", "DELETE") or (
            request.method == "POST" and not getattr(view, "submits_jobs", False)
        ):
            name, quota = "writes", settings.RATE_LIMIT_WRITES_PER_MINUTE
        else:
            return True
        limit = Limit(name, f"{name}:{request.user.pk}", quota, 60, counts=name)
        decision = rate_limit_hit([limit])
        rate_limit_headers_attach(request, decision)
        if not decision.allowed:
            metric_inc(RATE_LIMIT_REJECTIONS, limit=name)
            # Worded as a refused submission is, naming the limit, rather than as DRF words it.
            raise RateLimited(decision.refusal, headers=decision.headers())
        return True
