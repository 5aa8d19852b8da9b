from django.core.exceptions import ValidationError
from django.db import models

from accounts.models import TenantOwned, TenantScopedQuerySet


class Artifact(TenantOwned, models.Model):
    """What every generated thing has: its workspace, and the job that made it (purged jobs leave
    their artifacts behind)."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at"]


class GenerationArtifact(Artifact):
    """What a generation made, found by the generation's id (`?job=`), which outlives the job's
    purge (`job` then becomes null)."""

    generation_id = models.UUIDField(null=True, blank=True, db_index=True, editable=False)

    class Meta(Artifact.Meta):
        abstract = True


class SetArtifact(GenerationArtifact):
    """One of the several things a generation makes (cards, images), shown and shared as a set by
    the generation's id."""

    class Meta(GenerationArtifact.Meta):
        abstract = True


class Deck(GenerationArtifact):
    title = models.CharField(max_length=300)

    def __str__(self):
        return self.title


class Slide(models.Model):
    deck = models.ForeignKey(Deck, on_delete=models.CASCADE, related_name="slides")
    position = models.PositiveIntegerField()
    title = models.CharField(max_length=300)

    class Meta:
        ordering = ["position"]

    def __str__(self):
        return self.title


class Block(models.Model):
    class Kind(models.TextChoices):
        PARAGRAPH = "paragraph", "Paragraph"
        BULLETS = "bullets", "Bullets"
        QUOTE = "quote", "Quote"

    slide = models.ForeignKey(Slide, on_delete=models.CASCADE, related_name="blocks")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    text = models.TextField(blank=True)
    items = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["position"]

    def __str__(self):
        return f"{self.kind} on {self.slide}"


class Flashcard(SetArtifact):
    question = models.TextField()
    answer = models.TextField()
    source = models.TextField(blank=True, help_text="The passage the card was made from.")

    def __str__(self):
        return self.question[:80]


class Distractor(Artifact):
    flashcard = models.ForeignKey(Flashcard, on_delete=models.CASCADE, related_name="distractors")
    text = models.CharField(max_length=500)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position"]

    def __str__(self):
        return self.text


class SkillTree(GenerationArtifact):
    name = models.CharField(max_length=300)
    depth = models.PositiveIntegerField(default=0)
    node_count = models.PositiveIntegerField(default=0)

    def __str__(self):
        return self.name


class SkillNode(models.Model):
    tree = models.ForeignKey(SkillTree, on_delete=models.CASCADE, related_name="nodes")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    name = models.CharField(max_length=300)
    depth = models.PositiveIntegerField()
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["depth", "position"]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        if self.parent_id is not None and self.parent.tree_id != self.tree_id:
            raise ValidationError({"parent": "It is a node of another tree."})


class Story(GenerationArtifact):
    class Status(models.TextChoices):
        GENERATING = "generating", "Generating"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.GENERATING)
    prompt = models.JSONField(default=dict)
    title = models.CharField(max_length=300, blank=True)
    text = models.TextField(blank=True)
    words = models.PositiveIntegerField(default=0)
    generation_time = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta(GenerationArtifact.Meta):
        verbose_name_plural = "stories"

    def __str__(self):
        return self.title or f"Story {self.pk} ({self.status})"


class GeneratedImage(SetArtifact):
    class Kind(models.TextChoices):
        GENERATION = "generation", "Generation"
        EDIT = "edit", "Edit"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.GENERATION)
    prompt = models.TextField()
    file = models.FileField(upload_to="generations/", max_length=255)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    source_image = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="edits"
    )

    def __str__(self):
        return self.prompt[:80]


class DrawnImage(TenantOwned, models.Model):
    """An image of an `image_generation` job, drawn and stored while the job runs: an attempt that
    ends before the last image (a provider error, a rest after 429s, a worker stopped) leaves those
    drawn for the next attempt, which draws only the others. Its file becomes a GeneratedImage's
    when the job completes; the row (with its file) goes when the job ends failed or canceled, or
    is deleted. Never served: nothing links to it but the admin."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(help_text="The image's place in the job's result.")
    file = models.FileField(upload_to="generations/", max_length=255)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["job_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["job", "position"], name="drawnimage_one_per_position")
        ]

    def __str__(self):
        return f"Image {self.position + 1} of job {self.job_id}"
