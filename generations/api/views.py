from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status

from accounts.api.scoping import TenantScopedMixin
from core.errors import InvalidRequest
from core.etags import ConditionalRetrieveMixin
from core.idempotency import idempotent
from core.pagination import CursorPagination
from core.validation import FilterJobField
from generations.api.serializers import (
    GENERATION_REQUEST,
    DeckSerializer,
    FlashcardSerializer,
    GeneratedImageSerializer,
    GenerationSerializer,
    GenerationSubmitSerializer,
    SkillTreeSerializer,
    StorySerializer,
)
from generations.models import Deck, Flashcard, GeneratedImage, SkillTree, Story
from generations.services import GENERATION_TYPES, KIND_OF_TYPE
from jobs.api.submission import job_submit_for_request
from jobs.api.views import job_response
from jobs.models import Job


class GenerationCreateApi(generics.GenericAPIView):
    """Generate something: `{kind, priority?, ...the kind's input}`. 202 with the job to poll."""

    serializer_class = GenerationSubmitSerializer
    # Its POST counts against the submission limits, not the limit on writes.
    submits_jobs = True

    @extend_schema(request=GENERATION_REQUEST, responses={202: GenerationSerializer})
    @idempotent
    def post(self, request):
        if not isinstance(request.data, dict):
            raise InvalidRequest(errors={"non_field_errors": ["Expected a JSON object."]})
        head = GenerationSubmitSerializer(data=request.data)
        payload = {
            key: value for key, value in request.data.items() if key not in ("kind", "priority")
        }
        if not head.is_valid():
            raise InvalidRequest(errors={**head.errors, **_input_errors(request, payload)})
        job_type = GENERATION_TYPES[head.validated_data["kind"]]
        job = job_submit_for_request(
            request,
            type=job_type.name,
            payload=payload,
            priority=head.validated_data.get("priority"),
            # The kind's own fields answer at the top level of `errors`, as they were sent.
            payload_errors_under=None,
        )
        return job_response(
            request,
            job,
            status_code=status.HTTP_202_ACCEPTED,
            serializer_class=GenerationSerializer,
        )


def _input_errors(request, payload: dict) -> dict:
    """The errors of a known kind's own fields, answered in the same 400 as those of `priority`,
    so that a client fixes them all at once. Without a valid kind there is no telling which
    fields the request takes."""
    kind = request.data.get("kind")
    job_type = GENERATION_TYPES.get(kind) if isinstance(kind, str) else None
    if job_type is None:
        return {}
    try:
        job_type.validate(payload, tenant=request.user.tenant)
    except serializers.ValidationError as exc:
        return exc.detail
    return {}


class GenerationDetailApi(TenantScopedMixin, generics.RetrieveAPIView):
    queryset = Job.objects.filter(type__in=list(KIND_OF_TYPE))
    serializer_class = GenerationSerializer

    def retrieve(self, request, *args, **kwargs):
        return job_response(request, self.get_object(), serializer_class=GenerationSerializer)


class DeckDetailApi(TenantScopedMixin, generics.RetrieveAPIView):
    queryset = Deck.objects.prefetch_related("slides__blocks")
    serializer_class = DeckSerializer


class StoryDetailApi(ConditionalRetrieveMixin, TenantScopedMixin, generics.RetrieveAPIView):
    queryset = Story.objects.all()
    serializer_class = StorySerializer


GENERATION_JOB = OpenApiParameter("job", OpenApiTypes.UUID, description="The generation job's id.")


def _of_generation(rows, request, field: str):
    """`?job=<id>`: the rows one generation job made."""
    job = request.query_params.get("job")
    if job is None:
        return rows
    try:
        return rows.filter(**{field: FilterJobField().to_internal_value(job)})
    except serializers.ValidationError as exc:
        raise InvalidRequest(errors={"job": exc.detail}) from exc


@extend_schema(parameters=[GENERATION_JOB])
class StoryListApi(TenantScopedMixin, generics.ListAPIView):
    """The workspace's stories, newest first; `?job=` finds a generation's story whatever its
    job's end (a failed or canceled generation leaves a failed story), even once the job is
    purged."""

    queryset = Story.objects.all()
    serializer_class = StorySerializer
    query_filters = ("job",)

    def get_queryset(self):
        return _of_generation(super().get_queryset(), self.request, "generation_id")


@extend_schema(parameters=[GENERATION_JOB])
class DeckListApi(TenantScopedMixin, generics.ListAPIView):
    """The workspace's decks, newest first; `?job=` finds a generation's deck, even once the job
    is purged."""

    queryset = Deck.objects.prefetch_related("slides__blocks")
    serializer_class = DeckSerializer
    query_filters = ("job",)

    def get_queryset(self):
        return _of_generation(super().get_queryset(), self.request, "generation_id")


@extend_schema(parameters=[GENERATION_JOB])
class SkillTreeListApi(TenantScopedMixin, generics.ListAPIView):
    """The workspace's skill trees, newest first; `?job=` finds a generation's tree, even once
    the job is purged."""

    queryset = SkillTree.objects.prefetch_related("nodes")
    serializer_class = SkillTreeSerializer
    query_filters = ("job",)

    def get_queryset(self):
        return _of_generation(super().get_queryset(), self.request, "generation_id")


class SkillTreeDetailApi(TenantScopedMixin, generics.RetrieveAPIView):
    queryset = SkillTree.objects.prefetch_related("nodes")
    serializer_class = SkillTreeSerializer


class GenerationSetPagination(CursorPagination):
    """Every card or image newest first; one generation's in the order they were made, the order
    of its `flashcardIds` or `imageIds`."""

    def get_ordering(self, request, queryset, view):
        if "job" in request.query_params:
            return ("id",)
        return super().get_ordering(request, queryset, view)


@extend_schema(parameters=[GENERATION_JOB])
class ImageListApi(TenantScopedMixin, generics.ListAPIView):
    """The workspace's generated and edited images, newest first; `?job=` one generation's."""

    queryset = GeneratedImage.objects.all()
    serializer_class = GeneratedImageSerializer
    pagination_class = GenerationSetPagination
    query_filters = ("job",)

    def get_queryset(self):
        return _of_generation(super().get_queryset(), self.request, "generation_id")


class ImageDetailApi(TenantScopedMixin, generics.RetrieveAPIView):
    queryset = GeneratedImage.objects.all()
    serializer_class = GeneratedImageSerializer


@extend_schema(parameters=[GENERATION_JOB])
class FlashcardListApi(TenantScopedMixin, generics.ListAPIView):
    queryset = Flashcard.objects.prefetch_related("distractors")
    serializer_class = FlashcardSerializer
    pagination_class = GenerationSetPagination
    query_filters = ("job",)

    def get_queryset(self):
        return _of_generation(super().get_queryset(), self.request, "generation_id")
