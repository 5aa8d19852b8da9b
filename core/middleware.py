import logging
import re
import uuid

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import Http404, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.shortcuts import render
from django.utils.cache import patch_cache_control, patch_vary_headers

from core.clientip import is_trusted_proxy
from core.errors import (
    OUTAGE_RETRY_AFTER,
    OUTAGES,
    NulInQueryString,
    ServiceUnavailable,
    bad_request,
    is_api_request,
    problem_response,
    unlisted,
)
from core.request_context import fresh_log_context, set_request_id

logger = logging.getLogger(__name__)
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
API_PREFIX = "/api/v1/"


class ProbeMiddleware:
    """Answers the liveness and readiness probes, and the metrics scrape, before anything else
    runs: a load balancer, a container's healthcheck or Prometheus asks by address (Host:
    127.0.0.1, a pod's IP), which ALLOWED_HOSTS rightly refuses for every other page, and must not
    be redirected to https either. The metrics keep their own guard (token or address). Their
    answers carry the same security headers as every other."""

    def __init__(self, get_response):
        self.get_response = get_response
        # The headers the middleware after this one adds to every other answer, without its
        # redirect to https: only their process_response runs.
        self.security_headers = (
            SecurityMiddleware(get_response),
            XFrameOptionsMiddleware(get_response),
        )

    def __call__(self, request):
        from core.health import healthz, readyz
        from jobs.monitoring import metrics_view

        probe = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics_view}.get(
            request.path_info
        )
        if probe is None:
            return self.get_response(request)
        response = probe(request)
        for middleware in self.security_headers:
            response = middleware.process_response(request, response)
        return response


class SitePolicyMiddleware(CSPMiddleware):
    """django-csp's Content-Security-Policy, on every answer but the JSON API's: a browser renders
    nothing of those (and X-Frame-Options still keeps them out of frames), while building the header
    costs each answer, every status poll included, about as much as a bare DRF view's own work."""

    def process_request(self, request):
        if not request.path_info.startswith(API_PREFIX):
            super().process_request(request)

    def process_response(self, request, response):
        if request.path_info.startswith(API_PREFIX):
            return response
        return super().process_response(request, response)


class NulQueryMiddleware:
    """A query string with a NUL character in it is a 400 on every page, the admin's list filters
    (Django's own included, which would fail with a 500) and the API's parameters alike."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Percent-encoding is the only way a NUL reaches a query string. Answered here rather than
        # raised: with DEBUG on (the embedded default) Django would answer with its debug page.
        if "%00" in request.META.get("QUERY_STRING", ""):
            names = [
                name for name, values in request.GET.lists() if "\x00" in name + "".join(values)
            ]
            return bad_request(request, NulInQueryString(names))
        return self.get_response(request)


class ForwardedProtoMiddleware:
    """Behind NUM_PROXIES proxies, a request is secure when the proxy says so in X-Forwarded-Proto
    (SECURE_PROXY_SSL_HEADER). Only a peer in TRUSTED_PROXIES may say it: a client reaching the
    web processes directly would otherwise name its own scheme, as it could its own address (a
    peer on a Unix socket is a local process, trusted)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not is_trusted_proxy(request.META.get("REMOTE_ADDR", "")):
            request.META.pop("HTTP_X_FORWARDED_PROTO", None)
        return self.get_response(request)


class RequestIdMiddleware:
    """Every response carries X-Request-Id: the client's own when it is sane, else a new one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        supplied = request.headers.get("X-Request-Id", "")
        request.request_id = supplied if _CLIENT_REQUEST_ID.match(supplied) else uuid.uuid4().hex
        set_request_id(request.request_id)
        fresh_log_context()

        def request_done():
            # Cleared rather than reset to a token: under ASGI the response is closed in a copy of
            # the request's context, where a token from the original does not apply.
            set_request_id(None)
            fresh_log_context()

        try:
            response = self.get_response(request)
        except BaseException:
            request_done()
            raise
        response["X-Request-Id"] = request.request_id
        # The id stays set until the server closes the response, after it has written its access
        # line: runserver's line names the request's id too.
        response._resource_closers.append(request_done)
        return response


def _debug_host_refusal(request) -> HttpResponse | None:
    """With DEBUG on, Django answers a Host it does not serve with its debug page rather than
    handler400: under /api/, answer as handler400 does (with DEBUG off, handler400 itself does)."""
    if not settings.DEBUG or not is_api_request(request):
        return None
    try:
        request.get_host()
    except DisallowedHost as exc:
        return bad_request(request, exc)
    return None


class ApiPrivateMiddleware:
    """Every API answer is marked private, those of the middleware that answers on its own (a Host
    refused, a slash added) included: it comes before them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = _debug_host_refusal(request) or self.get_response(request)
        if is_api_request(request) and not response.has_header("Cache-Control"):
            # The caller's own: no shared cache keeps it, and the client's asks again each time
            # (with If-None-Match, so an unchanged job costs a 304).
            patch_cache_control(response, private=True, no_cache=True)
            patch_vary_headers(response, ("Authorization", "X-Api-Key"))
        return response


class ApiProblemMiddleware:
    """Django's own 404, 405 and 500 answer API clients in problem+json, never an HTML page; the
    database or Redis out of reach answers 503 with Retry-After, on any page. It comes last, so
    that the answers it rewrites still pass through the security headers' middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if is_api_request(request) and not response.get("Content-Type", "").startswith(
            "application/"
        ):
            response = _as_problem(request, response)
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, OUTAGES):
            return outage_response(request, exception)
        if not is_api_request(request) or isinstance(exception, Http404):
            return None
        logger.exception("Unhandled error on %s", request.path)
        return problem_response(
            status_code=500,
            code="INTERNAL_ERROR",
            title="Internal error",
            detail="An internal error occurred.",
        )


def _as_problem(request, response) -> HttpResponse:
    if response.status_code == 404:
        return problem_response(
            status_code=404, code="NOT_FOUND", title="Not found", detail="Not found."
        )
    if response.status_code == 405:
        return problem_response(
            status_code=405,
            code="INVALID_REQUEST",
            title="Method not allowed",
            detail=f"Method {request.method} is not allowed here.",
        )
    return response


def outage_response(request, exception) -> HttpResponse:
    """The database or Redis is out of reach: come back soon, in the caller's own format."""
    logger.warning("A service %s needs is unreachable: %r", request.path, exception)
    if is_api_request(request):
        response = problem_response(
            status_code=503,
            code=ServiceUnavailable.code,
            title=ServiceUnavailable.title,
            detail=ServiceUnavailable.default_detail,
        )
    else:
        response = unlisted(render(request, "503.html", status=503))
    response["Retry-After"] = str(OUTAGE_RETRY_AFTER)
    return response


class RateLimitHeadersMiddleware:
    """Adds the rate-limit headers of the limits a request was counted against to its response,
    whether it succeeded or was refused."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        for name, value in getattr(request, "rate_limit_headers", {}).items():
            response.setdefault(name, value)
        return response
