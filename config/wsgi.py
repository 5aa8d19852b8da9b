import io
import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")


def chunked_bodies(app):
    """Django reads a request body as long as its Content-Length, so a body sent in chunks (a
    client streaming it, with no length up front) reads as empty: a job submitted that way was
    refused as missing its type. gunicorn hands over the whole chunked body (it says so with
    `wsgi.input_terminated`); it is read here, up to one byte over Django's limit, which then
    answers 413 as for any body too big."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def application(environ, start_response):
        if (
            "CONTENT_LENGTH" not in environ
            and environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
            and environ.get("wsgi.input_terminated")
        ):
            body = environ["wsgi.input"].read(-1 if limit is None else limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return app(environ, start_response)

    return application


application = chunked_bodies(get_wsgi_application())
