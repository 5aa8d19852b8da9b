"""Input validated by DRF serializers, without building a serializer per call.

Building a serializer deep-copies every declared field, which costs several times what checking a
small payload does. Validation keeps no state on the serializer, so one instance per class and
thread checks every input, with this call's context.
"""

import threading

from rest_framework import serializers

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
