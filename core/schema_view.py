"""The OpenAPI schema at /api/schema/, made once per process."""

import functools

from django.conf import settings
from django.http import HttpResponse
from django.utils import translation
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView


class SchemaApi(SpectacularAPIView):
    """The same schema for every caller, made and rendered once per process and then served from
    memory. Making it takes a web process a second or two: asked for again and again, by anyone
    (it needs no key), a few callers at once would hold every web process. drf-spectacular's
    `?lang=` and `?version=`, each of which would make another, are not taken: the API has one
    version, documented in English."""

    # Not an operation of the API, as drf-spectacular's own view is not (SERVE_INCLUDE_SCHEMA).
    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        renderer = request.accepted_renderer
        media_type = renderer.media_type
        if renderer.charset:
            media_type = f"{media_type}; charset={renderer.charset}"
        return HttpResponse(
            schema_rendered(type(self), type(renderer)),
            content_type=media_type,
            headers={
                "Content-Disposition": f'inline; filename="{self._get_filename(request, None)}"'
            },
        )


@functools.cache
def schema_rendered(view_class: type[SpectacularAPIView], renderer_class) -> bytes:
    return renderer_class().render(_schema(view_class))


@functools.cache
def _schema(view_class: type[SpectacularAPIView]) -> dict:
    with translation.override(settings.LANGUAGE_CODE):
        generator = view_class.generator_class(
            urlconf=view_class.urlconf, api_version=view_class.api_version
        )
        return generator.get_schema(request=None, public=view_class.serve_public)
