import functools

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from core.validation import FilterChoiceField, KnownFieldsOnly, choice_refusal
from jobs.models import Job, JobEvent, Priority
from jobs.registry import job_type_get, job_types
from jobs.selectors import job_queue_position


class QueuePositionSerializer(serializers.Serializer):
    queue = serializers.CharField()
    position = serializers.IntegerField(help_text="1 when the job is next in its queue.")
    ahead = serializers.IntegerField(
        help_text="Due jobs of the same queue ahead of this one (counted up to 1,000)."
    )
    queue_length = serializers.IntegerField()
    active = serializers.IntegerField(help_text="Jobs of the queue being processed now.")
    estimated_wait_seconds = serializers.FloatField(
        allow_null=True,
        help_text="Seconds until its result should be ready once due: the jobs ahead shared among"
        " those running, then its own run, at its type's recent mean duration (null without"
        " recent runs, and while no worker serves the queue; concurrency caps are not counted). A"
        " job waiting for its next attempt is due at next_retry_at.",
    )
    queue_served = serializers.BooleanField(
        help_text="False while no worker seen in the last 2 minutes serves the queue: the job"
        " starts only once one does (estimated_wait_seconds is null meanwhile)."
    )
    waiting_for_slot_since = serializers.DateTimeField(
        allow_null=True,
        help_text="When the job found its type or its workspace at a concurrency cap: it starts in"
        " turn as slots free (null when it is not waiting for one).",
    )


class JobErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class JobSerializer(serializers.ModelSerializer):
    message = serializers.CharField(source="progress_message")
    result = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    queue = serializers.SerializerMethodField()
    view_url = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    credits_refunded = serializers.SerializerMethodField(
        help_text="What was given back when the job was canceled or failed for good: its charge."
    )

    class Meta:
        model = Job
        fields = [
            "id",
            "url",
            "type",
            "payload",
            "status",
            "priority",
            "progress",
            "message",
            "attempts",
            "max_attempts",
            "next_retry_at",
            "cancel_requested",
            "result",
            "error",
            "queue",
            "view_url",
            "credits_charged",
            "credits_refunded",
            "retry_of",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_result(self, job):
        job_type = job_type_get(job.type)
        if (
            job.status != Job.Status.COMPLETED
            or job.result is None
            or job_type is None
            or job_type.present_result is None
        ):
            return job.result
        return job_type.present_result(job)

    @extend_schema_field(JobErrorSerializer(allow_null=True))
    def get_error(self, job) -> dict | None:
        if not job.error_code:
            return None
        return {"code": job.error_code, "message": job.error_message}

    @extend_schema_field(QueuePositionSerializer(allow_null=True))
    def get_queue(self, job) -> dict | None:
        return job_queue_position(job)

    def get_view_url(self, job) -> str | None:
        job_type = job_type_get(job.type)
        if job.status != Job.Status.COMPLETED or job_type is None or job_type.view_url is None:
            return None
        return job_type.view_url(job)

    def get_url(self, job) -> str:
        return f"/api/v1/jobs/{job.pk}"

    def get_credits_refunded(self, job) -> int:
        # A job ends canceled or failed only in the transaction that refunds its charge.
        ended = job.status in (Job.Status.CANCELED, Job.Status.FAILED)
        return job.credits_charged if ended else 0


@functools.cache
def _representer(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    return serializer_class()


def job_representation(job: Job, serializer_class=JobSerializer) -> dict:
    """A job as the API shows it. One serializer instance per class serves every request: building
    a ModelSerializer's fields costs more than rendering a job, and the fields keep no request state."""
    return _representer(serializer_class).to_representation(job)


class JobEventSerializer(serializers.ModelSerializer):
    message = serializers.SerializerMethodField()

    class Meta:
        model = JobEvent
        fields = ["kind", "attempt", "message", "created_at"]
        read_only_fields = fields

    def get_message(self, event) -> str:
        # Which host and process ran an attempt is the operators' business: the admin shows it.
        return "" if event.kind == JobEvent.Kind.STARTED else event.message


class JobSubmitSerializer(KnownFieldsOnly, serializers.Serializer):
    type = serializers.CharField(max_length=64)
    payload = serializers.JSONField(default=dict)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)

    def validate_payload(self, payload):
        if not isinstance(payload, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return payload


@functools.cache
def _type_request(name: str) -> type[serializers.Serializer]:
    """The body of POST /jobs for one type, for the schema: its payload as the type checks it."""
    payload_serializer = job_type_get(name).payload_serializer
    if payload_serializer is None:
        payload = serializers.DictField(required=False)
    else:
        payload = payload_serializer(
            required=any(field.required for field in payload_serializer().fields.values())
        )
    return type(
        f"{''.join(part.title() for part in name.split('_'))}JobSubmit",
        (KnownFieldsOnly, serializers.Serializer),
        {
            # Labelled apart from a generation's `kind` of the same name (image_edit), so that the
            # schema's enum of each gets a name of its own.
            "type": serializers.ChoiceField(choices=[(name, f"Job type {name}")]),
            "payload": payload,
            "priority": serializers.ChoiceField(choices=Priority.choices, required=False),
        },
    )


# What the schema says POST /jobs takes: one body per type a client may submit, told apart by
# `type`; read as the schema is generated, since apps register their types as they load.
JOB_SUBMIT_REQUEST = PolymorphicProxySerializer(
    component_name="JobSubmit",
    serializers=lambda: {
        job_type.name: _type_request(job_type.name)
        for job_type in job_types()
        if job_type.public and job_type.enabled()
    },
    resource_type_field_name="type",
)


class JobRetrySerializer(KnownFieldsOnly, serializers.Serializer):
    priority = serializers.ChoiceField(
        choices=Priority.choices, required=False, help_text="Default: the retried job's."
    )


MAX_IDS = 100


class JobListQuerySerializer(serializers.Serializer):
    status = FilterChoiceField(choices=Job.Status.choices, required=False)
    # Sent empty, it is refused as any other type the product does not know.
    type = serializers.CharField(max_length=64, required=False, allow_blank=True)
    # Sent empty, it is a look-up of no jobs, not a list of every job.
    ids = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text=f"Comma-separated job ids (at most {MAX_IDS}), all answered on one page.",
    )

    def validate_type(self, value: str) -> str:
        # A misspelt type is an error rather than a list that looks as though no such job ran.
        if job_type_get(value) is None:
            names = [job_type.name for job_type in job_types()]
            raise serializers.ValidationError(choice_refusal(value, names))
        return value

    def validate_ids(self, value: str) -> list[str]:
        ids = [part.strip() for part in value.split(",") if part.strip()]
        if len(ids) > MAX_IDS:
            raise serializers.ValidationError(f"At most {MAX_IDS} ids.")
        field, valid = serializers.UUIDField(), []
        for job_id in ids:
            try:
                valid.append(str(field.to_internal_value(job_id)))
            except serializers.ValidationError:
                raise serializers.ValidationError(f"{job_id!r} is not a job id.") from None
        return valid


class QueueStatsRowSerializer(serializers.Serializer):
    queue = serializers.CharField()
    type = serializers.CharField()
    pending = serializers.IntegerField()
    processing = serializers.IntegerField()
    completed = serializers.IntegerField()
    failed = serializers.IntegerField()
    canceled = serializers.IntegerField()


class QueueStatsSerializer(serializers.Serializer):
    jobs = QueueStatsRowSerializer(many=True)
    depth = serializers.DictField(
        child=serializers.IntegerField(), help_text="Due pending jobs per queue, all workspaces."
    )
