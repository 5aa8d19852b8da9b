"""The word_count job type: counts the words of one of the workspace's documents."""

from django.db import OperationalError, transaction
from rest_framework import serializers

from core.validation import KnownFieldsOnly
from jobs.context import JobContext
from jobs.errors import PermanentError, RetryableError
from jobs.registry import JobType
from tests.wordcount.models import Document


class WordCountPayload(KnownFieldsOnly, serializers.Serializer):
    document = serializers.IntegerField()

    def validate_document(self, pk: int) -> int:
        # The workspace submitting the job is in the context: a payload names its own rows only.
        if not Document.objects.filter(pk=pk, tenant=self.context["tenant"]).exists():
            raise serializers.ValidationError("No such document.")
        return pk


def word_count_handle(ctx: JobContext) -> dict:
    document = Document.objects.filter(pk=ctx.payload["document"], tenant=ctx.tenant).first()
    if document is None:
        raise PermanentError("NOT_FOUND", "The document was deleted.")
    lines = document.text.splitlines() or [""]
    words = 0
    for number, line in enumerate(lines, start=1):
        ctx.check_canceled()
        words += len(line.split())
        ctx.progress(number * 100 // len(lines), f"line {number} of {len(lines)}")
    # The count and the job's completion commit together, or neither does.
    with transaction.atomic():
        document = _document_locked(document.pk)
        document.words, document.counting = words, False
        document.save(update_fields=["words", "counting"])
        return ctx.complete({"words": words, "lines": len(lines)})


def _document_locked(pk: int) -> Document:
    try:
        return Document.objects.select_for_update(nowait=True).get(pk=pk)
    except OperationalError as exc:
        raise RetryableError("DOCUMENT_LOCKED", "Another change holds the document.") from exc


def word_count_started_counting(job) -> None:
    Document.objects.filter(pk=job.payload["document"]).update(counting=True)


def word_count_stopped_counting(job) -> None:
    Document.objects.filter(pk=job.payload["document"]).update(counting=False)


WORD_COUNT = JobType(
    name="word_count",
    handler=word_count_handle,
    payload_serializer=WordCountPayload,
    max_attempts=3,
    retry_delays=(2, 30),
    time_limit=60,
    max_concurrency_per_tenant=2,
    on_submit=word_count_started_counting,
    on_give_up=word_count_stopped_counting,
    on_requeue=word_count_started_counting,
)
