from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.scoping import TenantScopedMixin
from accounts.permissions import IsTenantAdmin
from core.converters import AnyCaseUuidConverter
from core.errors import InvalidRequest
from core.etags import etag_matches, representation_etag
from core.idempotency import idempotent
from core.pagination import CursorPagination
from core.validation import data_validate, list_query
from jobs.api.serializers import (
    JOB_SUBMIT_REQUEST,
    MAX_IDS,
    JobEventSerializer,
    JobListQuerySerializer,
    JobRetrySerializer,
    JobSerializer,
    JobSubmitSerializer,
    QueueStatsSerializer,
    job_representation,
)
from jobs.api.submission import job_retry_for_request, job_submit_for_request, poll_after_seconds
from jobs.models import Job
from jobs.registry import job_type_get, job_types
from jobs.selectors import job_counts, job_for_polling, jobs_with_due_ahead, queue_depths
from jobs.services import job_cancel


def job_response(
    request, job: Job, *, status_code: int = 200, serializer_class=JobSerializer
) -> Response:
    """A job's representation, with a polling hint while unfinished and an ETag for 304s."""
    data = job_representation(job, serializer_class)
    headers = {}
    if not job.is_finished:
        headers["Retry-After"] = str(poll_after_seconds(job))
    if status_code == status.HTTP_202_ACCEPTED:
        headers["Location"] = data["url"]
    etag = representation_etag(data)
    headers["ETag"] = etag
    # If-None-Match asks a read for 304; an action (a cancel) is done whatever the client holds.
    if (
        status_code == 200
        and request.method in ("GET", "HEAD")
        and etag_matches(request.headers.get("If-None-Match"), etag)
    ):
        return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(data, status=status_code, headers=headers)


class RegisteredJobTypes:
    """The job types' names, read as the schema is generated: apps register their types as they
    load, which may come after this module is imported."""

    def __iter__(self):
        return (job_type.name for job_type in job_types())

    def __len__(self):
        return len(job_types())


# What JobListQuerySerializer takes for `ids`: job ids (any case, hyphens or not) between commas,
# blanks around them and empty ones left out.
_JOB_ID = rf"{AnyCaseUuidConverter.regex}\s*"
JOB_IDS = {"type": "string", "pattern": rf"^\s*(?:{_JOB_ID})?(?:,\s*(?:{_JOB_ID})?)*$"}


class JobListPagination(CursorPagination):
    def get_page_size(self, request):
        # A batch look-up answers every job it names on one page, unless a page size is asked.
        if "ids" in request.query_params and self.page_size_query_param not in request.query_params:
            return MAX_IDS
        return super().get_page_size(request)


class JobListCreateApi(TenantScopedMixin, generics.ListAPIView):
    """Submit a job, or list the workspace's jobs (newest first)."""

    queryset = Job.objects.all()
    serializer_class = JobSerializer
    pagination_class = JobListPagination
    query_serializer_class = JobListQuerySerializer
    # `?ids=a,b&ids=c`, as HTTP clients send a list, looks up all three.
    query_lists = ("ids",)
    # Its POST counts against the submission limits, not the limit on writes.
    submits_jobs = True

    @extend_schema(
        parameters=[
            OpenApiParameter("status", enum=Job.Status.values),
            OpenApiParameter(
                "type",
                enum=RegisteredJobTypes(),
                description="A job type (`diagnostic`, `invoice_pdf`...); another is 400.",
            ),
            OpenApiParameter(
                "ids", JOB_IDS, description="Comma-separated job ids: a batch status look-up."
            ),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = list_query(self)
        jobs = super().get_queryset()
        if "status" in query:
            jobs = jobs.filter(status=query["status"])
        if "type" in query:
            jobs = jobs.filter(type=query["type"])
        if "ids" in query:
            jobs = jobs.filter(pk__in=query["ids"])
        return jobs_with_due_ahead(jobs.order_by("-created_at"))

    @extend_schema(request=JOB_SUBMIT_REQUEST, responses={202: JobSerializer})
    @idempotent
    def post(self, request):
        try:
            params = data_validate(JobSubmitSerializer, request.data)
        except serializers.ValidationError as exc:
            raise InvalidRequest(errors={**exc.detail, **_payload_errors(request)}) from exc
        job_type = job_type_get(params["type"])
        if job_type is None:
            raise InvalidRequest(errors={"type": [f"Unknown job type {params['type']!r}."]})
        if not job_type.public:
            raise InvalidRequest(
                errors={"type": [f"{job_type.name} jobs are submitted by the product itself."]}
            )
        job = job_submit_for_request(
            request,
            type=params["type"],
            payload=params["payload"],
            priority=params.get("priority"),
        )
        return job_response(request, job, status_code=status.HTTP_202_ACCEPTED)


def _payload_errors(request) -> dict:
    """The payload's errors, when the request names a type a client may submit: answered in the
    same 400 as those of its other fields (a bad priority), so that a client fixes them all at
    once."""
    body = request.data
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        return {}
    job_type = job_type_get(body["type"])
    payload = body.get("payload", {})
    if job_type is None or not job_type.public or not job_type.enabled():
        return {}
    if not isinstance(payload, dict):
        return {}
    try:
        job_type.validate(payload, tenant=request.user.tenant)
    except serializers.ValidationError as exc:
        return {"payload": exc.detail}
    return {}


class JobDetailApi(TenantScopedMixin, generics.RetrieveAPIView):
    """A job's status, progress, attempts, result or error, and queue position."""

    queryset = Job.objects.all()
    serializer_class = JobSerializer

    def retrieve(self, request, *args, **kwargs):
        job = job_for_polling(tenant=self.tenant, pk=kwargs["pk"])
        if job is None:
            raise NotFound()
        return job_response(request, job)


class JobEventPagination(CursorPagination):
    ordering = ("created_at", "id")


class JobEventListApi(generics.ListAPIView):
    """A job's history, oldest first: each attempt started, retries scheduled (with the error), waits
    for capacity, reaping after a lost worker, requeues, a cancel asked of a running attempt, and
    the cancel or final failure."""

    serializer_class = JobEventSerializer
    pagination_class = JobEventPagination

    def get_queryset(self):
        job = get_object_or_404(
            Job.objects.for_tenant(self.request.user.tenant), pk=self.kwargs["pk"]
        )
        return job.events.all()


class JobCancelApi(TenantScopedMixin, generics.GenericAPIView):
    """Cancel a pending job at once, or ask a processing one to stop (409 when it has finished)."""

    queryset = Job.objects.all()
    serializer_class = JobSerializer

    @extend_schema(
        request=None,
        responses={200: JobSerializer, 202: JobSerializer},
        parameters=[
            OpenApiParameter(
                "ETag",
                str,
                OpenApiParameter.HEADER,
                required=True,
                response=[200, 202],
                description="The job's entity tag: send it as If-None-Match to poll for changes.",
            ),
            OpenApiParameter(
                "Location",
                str,
                OpenApiParameter.HEADER,
                required=True,
                response=[202],
                description="The job to poll until the cancel lands.",
            ),
            OpenApiParameter(
                "Retry-After",
                int,
                OpenApiParameter.HEADER,
                required=True,
                response=[202],
                description="Seconds to wait before polling the job.",
            ),
        ],
    )
    def post(self, request, pk):
        job = job_cancel(job=self.get_object(), actor=request.user.actor)
        code = status.HTTP_200_OK if job.is_finished else status.HTTP_202_ACCEPTED
        return job_response(request, job, status_code=code)


class JobRetryApi(TenantScopedMixin, generics.GenericAPIView):
    """Submit a failed or canceled job again, as a new job whose retry_of points back at it."""

    queryset = Job.objects.all()
    serializer_class = JobSerializer
    # Its POST counts against the submission limits, not the limit on writes.
    submits_jobs = True

    @extend_schema(request=JobRetrySerializer, responses={202: JobSerializer})
    @idempotent
    def post(self, request, pk):
        params = data_validate(JobRetrySerializer, request.data)
        job = job_retry_for_request(request, job=self.get_object(), priority=params.get("priority"))
        return job_response(request, job, status_code=status.HTTP_202_ACCEPTED)


class QueueStatsApi(APIView):
    """Counts of the workspace's jobs by queue, type and status, and every queue's depth."""

    permission_classes = [IsTenantAdmin]

    @extend_schema(responses=QueueStatsSerializer)
    def get(self, request):
        data = {
            "jobs": job_counts(Job.objects.for_tenant(request.user.tenant)),
            "depth": queue_depths(),
        }
        return Response(QueueStatsSerializer(data).data)
