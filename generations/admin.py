from django import forms
from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html

from accounts.admin import (
    LargeTableAdmin,
    ReadOnlyAdmin,
    RelatedSearchedFirst,
    WorkspaceFilter,
    WorkspaceOwnedAdmin,
)
from generations.models import (
    Block,
    Deck,
    Distractor,
    DrawnImage,
    Flashcard,
    GeneratedImage,
    SkillNode,
    SkillTree,
    Slide,
    Story,
)
from generations.schemas import BULLET_MAX
from generations.signing import file_path
from sharelinks.admin import SharedResourceAdmin


class FixedOnceMadeAdmin(admin.ModelAdmin):
    """Fields set when the object is made and shown, never changed, after: what it is part of,
    its place in it, how far along its generation is."""

    fixed_once_made: list[str] = []

    def get_readonly_fields(self, request, obj=None):
        fixed = self.fixed_once_made if obj is not None else []
        return [*super().get_readonly_fields(request, obj), *fixed]


class GeneratedListAdmin(LargeTableAdmin):
    """The list of what generations make, a few rows to hundreds every job: read newest first
    along the primary key, the one order an index keeps across workspaces (the creation time has
    none, and a part's place is its artifact's order), and sorted by no other column, each of which
    would sort the whole table on every page. Its filters and its search box narrow it."""

    ordering = ["-pk"]
    sortable_by = []


class ArtifactAdmin(
    RelatedSearchedFirst,
    GeneratedListAdmin,
    SharedResourceAdmin,
    FixedOnceMadeAdmin,
    WorkspaceOwnedAdmin,
):
    list_filter = [WorkspaceFilter]
    list_select_related = ["tenant"]
    search_related = {"tenant": "slug"}
    raw_id_fields = ["tenant"]
    # The job that made it (a story's job finds its story by it): never set or changed by hand.
    readonly_fields = ["job", "created_at"]


class PartAdmin(GeneratedListAdmin, FixedOnceMadeAdmin):
    """A part of an artifact (a slide, a block, a node) stays in the artifact it was made in: the
    artifact says which workspace sees it, so moving the part would show it to another. Its place
    in the artifact is fixed too: the artifact is shown in that order, a node at its depth."""


class PartForm(forms.ModelForm):
    """A part listed on its artifact's page keeps its place there once it exists."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # On its own page the place is a read-only field already.
        if self.instance.pk is not None and "position" in self.fields:
            self.fields["position"].disabled = True


class BlockForm(PartForm):
    """A block holds what its kind shows, as its generation writes it: bullets a list of texts,
    a paragraph or a quote its text and no items. Anything else would reach the API and the public
    deck page as it is (an object listed as its keys)."""

    def clean(self):
        cleaned = super().clean()
        kind, items = cleaned.get("kind"), cleaned.get("items")
        if kind is None or "items" not in cleaned:
            return cleaned
        if kind == Block.Kind.BULLETS:
            if not _bullets(items):
                self.add_error(
                    "items",
                    f"Bullets are a list of one or more texts of at most {BULLET_MAX} characters "
                    'each, such as ["First point", "Second point"].',
                )
        elif items:
            self.add_error("items", f"A {kind} shows its text: leave its items empty.")
        else:
            cleaned["items"] = []
        return cleaned


def _bullets(items) -> bool:
    return isinstance(items, list) and len(items) > 0 and all(_bullet(item) for item in items)


def _bullet(item) -> bool:
    """Text of at most BULLET_MAX characters that a column stores: no NUL character, no half of a
    UTF-16 surrogate pair (valid JSON both)."""
    if not isinstance(item, str) or not item.strip() or len(item) > BULLET_MAX or "\x00" in item:
        return False
    try:
        item.encode()
    except UnicodeEncodeError:
        return False
    return True


class SlideInline(admin.StackedInline):
    model = Slide
    form = PartForm
    extra = 0
    show_change_link = True


class BlockInline(admin.TabularInline):
    model = Block
    form = BlockForm
    extra = 0


@admin.register(Deck)
class DeckAdmin(ArtifactAdmin):
    list_display = ["title", "tenant", "job", "created_at"]
    list_select_related = ["tenant", "job"]
    search_fields = ["title"]
    search_help_text = "Words of its title, or a workspace's slug."
    inlines = [SlideInline]


@admin.register(Slide)
class SlideAdmin(PartAdmin):
    list_display = ["title", "deck", "position"]
    # Not its deck's title: decks are as many as the jobs that made them, and the thousands a
    # common word finds would each be looked for among the slides.
    search_fields = ["title"]
    search_help_text = "Words of its title. A deck's slides are on the deck's page."
    list_select_related = ["deck"]
    raw_id_fields = ["deck"]
    fixed_once_made = ["deck", "position"]
    inlines = [BlockInline]


@admin.register(Block)
class BlockAdmin(PartAdmin):
    form = BlockForm
    list_display = ["slide", "position", "kind"]
    list_filter = ["kind"]
    search_fields = ["text"]
    search_help_text = "Words of its text."
    list_select_related = ["slide"]
    raw_id_fields = ["slide"]
    fixed_once_made = ["slide", "position"]


class CardPartsFormSet(BaseInlineFormSet):
    """A wrong answer added on its card's page belongs to the card's workspace."""

    def save_new(self, form, commit=True):
        form.instance.tenant_id = self.instance.tenant_id
        return super().save_new(form, commit)


class DistractorInline(admin.TabularInline):
    model = Distractor
    form = PartForm
    formset = CardPartsFormSet
    extra = 0
    fields = ["position", "text"]


@admin.register(Flashcard)
class FlashcardAdmin(ArtifactAdmin):
    list_display = ["question", "answer", "tenant", "created_at"]
    search_fields = ["question", "answer"]
    search_help_text = "Words of its question or answer, or a workspace's slug."
    inlines = [DistractorInline]


@admin.register(Distractor)
class DistractorAdmin(ArtifactAdmin):
    list_display = ["text", "flashcard", "tenant"]
    list_select_related = ["tenant", "flashcard"]
    # Not its card's question, as a slide is not searched by its deck's title: a card's page lists
    # its wrong answers.
    search_fields = ["text"]
    search_help_text = "Words of its text, or a workspace's slug."
    raw_id_fields = ["tenant", "flashcard"]
    fixed_once_made = ["flashcard", "position"]


@admin.register(SkillTree)
class SkillTreeAdmin(ArtifactAdmin):
    list_display = ["name", "depth", "node_count", "tenant", "created_at"]
    search_fields = ["name"]
    search_help_text = "Words of its name, or a workspace's slug."
    # Counted from its nodes when it was made.
    fixed_once_made = ["depth", "node_count"]


@admin.register(SkillNode)
class SkillNodeAdmin(PartAdmin):
    list_display = ["name", "tree", "depth", "position"]
    # Not its tree's name, as a slide is not searched by its deck's title.
    search_fields = ["name"]
    search_help_text = "Words of its name."
    list_select_related = ["tree"]
    raw_id_fields = ["tree", "parent"]
    fixed_once_made = ["tree", "parent", "depth", "position"]


@admin.register(Story)
class StoryAdmin(ArtifactAdmin):
    list_display = ["title", "status", "words", "generation_time", "tenant", "created_at"]
    list_filter = ["status", WorkspaceFilter]
    # Not its text, thousands of words a story: its index would be as large as the stories.
    search_fields = ["title"]
    search_help_text = "Words of its title, or a workspace's slug."
    # Its job's to move on: a story set back to generating by hand would stay so.
    fixed_once_made = ["status"]
    # What its generation measured, or why it failed.
    readonly_fields = [*ArtifactAdmin.readonly_fields, "words", "generation_time", "error"]

    # Only the add form shows the status, and a story added there has no job to write it: it is
    # added ready (or failed), never generating, which it would stay.
    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "status":
            kwargs["choices"] = [
                choice for choice in Story.Status.choices if choice[0] != Story.Status.GENERATING
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request):
        return {"status": Story.Status.READY, **super().get_changeform_initial_data(request)}


@admin.register(GeneratedImage)
class GeneratedImageAdmin(ArtifactAdmin):
    list_display = ["prompt", "kind", "width", "height", "tenant", "created_at"]
    list_filter = ["kind", WorkspaceFilter]
    search_fields = ["prompt"]
    search_help_text = "Words of its prompt, or a workspace's slug."
    # The file is the generation's output: shown here, never uploaded or cleared by hand; so are
    # what the generation says of it (its size, whether it is an edit, and of which image).
    exclude = ["file"]
    readonly_fields = [
        "preview",
        "kind",
        "width",
        "height",
        "source_image",
        *ArtifactAdmin.readonly_fields,
    ]

    class Media:
        # The site's Content-Security-Policy applies no inline style.
        css = {"all": ["generations/admin.css"]}

    def has_add_permission(self, request):
        return False

    @admin.display(description="Image")
    def preview(self, image):
        url = file_path("image", image.pk)
        return format_html(
            '<a href="{}"><img src="{}" alt="{}" class="image-preview"></a><br>{}',
            url,
            url,
            image.prompt,
            image.file.name,
        )


@admin.register(DrawnImage)
class DrawnImageAdmin(ReadOnlyAdmin):
    """The images a running image job has drawn so far, shown and never changed here: the job's
    completion makes them its images, its end (failed, canceled) deletes them. No link to the
    file: nothing of a job is served before it completes."""

    list_display = ["job", "position", "width", "height", "tenant", "created_at"]
    list_filter = [WorkspaceFilter]
    list_select_related = ["tenant", "job"]
    search_fields = ["tenant__slug"]
    raw_id_fields = ["tenant", "job"]
    exclude = ["file"]
    readonly_fields = ["file_name"]

    @admin.display(description="File")
    def file_name(self, image):
        return image.file.name
