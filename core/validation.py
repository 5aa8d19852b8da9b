"""Input validated by DRF serializers, without building a serializer per call.

Building a serializer deep-copies every declared field, which costs several times what checking a
small payload does. Validation keeps no state on the serializer, so one instance per class and
thread checks every input, with this call's context.
"""

import threading
from collections.abc import Mapping

from rest_framework import serializers
from rest_framework.settings import api_settings

from core.errors import InvalidRequest

_instances = threading.local()


def data_validate(serializer_class: type[serializers.Serializer], data, *, context=None):
    """What `serializer_class(data=data, context=context)` validates to; DRF's ValidationError,
    with the same detail as `is_valid()` gives, when the data is invalid."""
    if data is None:
        # is_valid() words a missing body its own way ("No data provided"); that rare answer
        # comes from a serializer built for it.
        serializer_class(data=data, context=context).is_valid(raise_exception=True)
    cache = _instances.__dict__.setdefault("serializers", {})
    serializer = cache.get(serializer_class)
    if serializer is None:
        serializer = cache[serializer_class] = serializer_class()
    serializer._context = context or {}
    try:
        return serializer.run_validation(data)
    finally:
        serializer._context = {}


UNKNOWN_FIELDS_NAMED = 20


# A serializer mixin that refuses fields it does not declare: a misspelt option is a 400 naming
# it, never silently dropped for its default. Read-only fields are declared, so a representation
# sent back as it was read is still accepted (they are ignored). A comment, not a docstring: the
# schema describes each serializer by its docstring, inherited from its bases.
class KnownFieldsOnly:
    def to_internal_value(self, data):
        unknown = {}
        if isinstance(data, Mapping):
            names = [name for name in data if name not in self.fields]
            # Named up to a bound: a body of a million unknown keys gets a short answer.
            unknown = {name: ["Unknown field."] for name in names[:UNKNOWN_FIELDS_NAMED]}
            if len(names) > UNKNOWN_FIELDS_NAMED:
                unknown[api_settings.NON_FIELD_ERRORS_KEY] = [
                    f"{len(names) - UNKNOWN_FIELDS_NAMED} more unknown fields."
                ]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**unknown, **exc.detail}) from exc
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class WorkspaceObjectField(serializers.PrimaryKeyRelatedField):
    """An object of the caller's workspace, by its id; another workspace's id is simply not found.
    The id is a whole number or its digits: a JSON number with a fraction (2.9) or true is refused,
    where the database would have looked up 2 or 1."""

    def __init__(self, model, **kwargs):
        self.model = model
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.model.objects.filter(tenant=self.context["request"].user.tenant)

    def to_internal_value(self, data):
        if isinstance(data, bool | float):
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


def choice_refusal(value, choices) -> str:
    """What a list filter answers a value it does not take: the values it does, the same words on
    every list."""
    return f'Select a valid choice. "{value}" is not one of: {", ".join(choices)}.'


class FilterChoiceField(serializers.ChoiceField):
    """A list filter of a few values: another is a 400 naming those it takes."""

    def to_internal_value(self, data):
        try:
            return self.choice_strings_to_values[str(data)]
        except KeyError:
            raise serializers.ValidationError(
                choice_refusal(data, self.choice_strings_to_values), code="invalid_choice"
            ) from None


class FilterBooleanField(serializers.BooleanField):
    """A list filter of `true` or `false` (DRF's other spellings, `1` or `yes`, still read)."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError:
            raise serializers.ValidationError(
                choice_refusal(data, ("true", "false")), code="invalid"
            ) from None


def id_refusal(name: str) -> str:
    """What a list filter naming an object by its id answers anything else."""
    return f"Must be a {name} id."


class FilterIdField(serializers.IntegerField):
    """A list filter naming an object by its id, a whole number from 1 in ASCII digits: Python
    would read `+1`, ` 1` or `1.0` as 1 and `1_0` as 10. A well-formed id of nothing the caller
    can see, another workspace's included, finds nothing."""

    def __init__(self, name: str, **kwargs):
        refusal = id_refusal(name)
        kwargs["error_messages"] = {
            "invalid": refusal,
            "min_value": refusal,
            "max_string_length": refusal,
        }
        super().__init__(min_value=1, help_text=f"A {name}'s id.", **kwargs)

    def to_internal_value(self, data):
        if not (isinstance(data, str) and data.isascii() and data.isdigit()):
            self.fail("invalid")
        return super().to_internal_value(data)


class FilterJobField(serializers.UUIDField):
    """A list filter naming a job by its id."""

    default_error_messages = {"invalid": id_refusal("job")}


def name_search_field() -> serializers.CharField:
    """`?search=`: the list's rows whose name holds the text, in any case."""
    return serializers.CharField(
        source="name__icontains",
        max_length=200,
        required=False,
        help_text="Only those whose name holds this text, in any case.",
    )


def _query_filters(view) -> tuple[str, ...]:
    serializer_class = getattr(view, "query_serializer_class", None)
    if serializer_class is not None:
        return tuple(serializer_class._declared_fields)
    return tuple(getattr(view, "query_filters", ()))


# A viewset whose list takes filters, applied by its `filter_list(rows)`. They narrow the list
# alone: its detail routes (retrieve, update, delete, a detail action) find the object whatever the
# query string says, ignoring a list's filter there as they ignore any other parameter. A comment,
# not a docstring: the schema describes a view without one of its own by its bases' docstring.
class ListFiltersMixin:
    def get_queryset(self):
        rows = super().get_queryset()
        if self.action != "list":
            return rows
        return self.filter_list(rows)


def list_query(view) -> dict:
    """A list view's filters, validated by its `query_serializer_class` (a 400 naming a bad one).
    Read from a plain dict: DRF reads a field missing from form-like data as blank or false, and
    an empty value is the request's error, not a filter silently left out."""
    params = view.request.query_params
    data = params.dict()
    for name in getattr(view, "query_lists", ()):
        if name in params:
            data[name] = ",".join(params.getlist(name))
    return data_validate(view.query_serializer_class, data)


def query_params_check(request, view, *, paging: tuple[str, ...]) -> None:
    """A list's query string holds only its paging parameters and the filters its view takes
    (`query_serializer_class`'s fields, or `query_filters`), each once, except those it reads as
    lists (`query_lists`): a misspelt filter (`?ids[]=`, `?stauts=`) or a repeated one
    (`?status=a&status=b`) is a 400 naming it, never a list that silently leaves it out or keeps
    the last."""
    taken = (*_query_filters(view), *paging)
    lists = getattr(view, "query_lists", ())
    errors = {}
    for name, values in request.query_params.lists():
        if name not in taken and name != api_settings.URL_FORMAT_OVERRIDE:
            errors[name] = [f"Unknown query parameter: this list takes {', '.join(taken)}."]
        elif len(values) > 1 and name not in lists:
            errors[name] = ["Given more than once: give one value."]
    if errors:
        raise InvalidRequest(errors=errors)
