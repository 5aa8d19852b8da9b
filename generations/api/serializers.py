from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from generations.models import Deck, Flashcard, GeneratedImage, SkillTree, Slide, Story
from generations.services import GENERATION_TYPES, KIND_OF_TYPE
from generations.signing import file_url
from jobs.api.serializers import JobSerializer
from jobs.models import Priority


class GenerationSubmitSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=sorted(GENERATION_TYPES))
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)


def _kind_request(kind: str, payload_serializer) -> type[serializers.Serializer]:
    """The body of POST /generations for one kind, for the schema: its input at the top level."""
    name = "".join(part.title() for part in kind.split("_"))
    return type(
        f"{name}Generation",
        (payload_serializer,),
        {
            "kind": serializers.ChoiceField(choices=[kind]),
            "priority": serializers.ChoiceField(choices=Priority.choices, required=False),
        },
    )


# What the schema says POST /generations takes: one body per kind, told apart by `kind`.
GENERATION_REQUEST = PolymorphicProxySerializer(
    component_name="Generation",
    serializers={
        kind: _kind_request(kind, job_type.payload_serializer)
        for kind, job_type in sorted(GENERATION_TYPES.items())
    },
    resource_type_field_name="kind",
)


class GenerationSerializer(JobSerializer):
    kind = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = ["kind", *JobSerializer.Meta.fields]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=sorted(GENERATION_TYPES)))
    def get_kind(self, job) -> str:
        return KIND_OF_TYPE.get(job.type, job.type)

    def get_url(self, job) -> str:
        return f"/api/v1/generations/{job.pk}"


class SlideSerializer(serializers.ModelSerializer):
    blocks = serializers.SerializerMethodField()

    class Meta:
        model = Slide
        fields = ["position", "title", "blocks"]

    def get_blocks(self, slide) -> list[dict]:
        return [
            {
                "kind": block.kind,
                **({"items": block.items} if block.kind == "bullets" else {"text": block.text}),
            }
            for block in slide.blocks.all()
        ]


class DeckSerializer(serializers.ModelSerializer):
    slides = SlideSerializer(many=True, read_only=True)

    class Meta:
        model = Deck
        fields = ["id", "title", "job", "slides", "created_at"]


class FlashcardSerializer(serializers.ModelSerializer):
    distractors = serializers.SlugRelatedField(many=True, read_only=True, slug_field="text")

    class Meta:
        model = Flashcard
        fields = ["id", "question", "answer", "source", "distractors", "job", "created_at"]


class StorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Story
        fields = [
            "id",
            "status",
            "title",
            "text",
            "words",
            "generation_time",
            "prompt",
            "error",
            "job",
            "created_at",
        ]


class SkillTreeSerializer(serializers.ModelSerializer):
    tree = serializers.SerializerMethodField()

    class Meta:
        model = SkillTree
        fields = ["id", "name", "depth", "node_count", "tree", "job", "created_at"]

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_tree(self, tree) -> list:
        children = {}
        for node in tree.nodes.all():
            children.setdefault(node.parent_id, []).append(node)

        def nested(parent_id):
            return [
                {"name": n.name, "depth": n.depth, "children": nested(n.pk)}
                for n in children.get(parent_id, [])
            ]

        return nested(None)


class GeneratedImageSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = GeneratedImage
        fields = [
            "id",
            "kind",
            "prompt",
            "width",
            "height",
            "url",
            "source_image",
            "job",
            "created_at",
        ]

    def get_url(self, image) -> str:
        return file_url("image", image.pk)
