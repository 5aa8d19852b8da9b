import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key")

from .base import *  # noqa: E402,F403
from .base import _REDIS_TIMEOUTS, _tune_database, env  # noqa: E402

DEBUG = False
ALLOWED_HOSTS = ["*"]
DATABASES = {
    "default": _tune_database(
        env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/offload")
    )
}
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/15")
# The suite always has Redis, whether REDIS_URL is set or taken from the default above.
API_KEY_CACHE_SECONDS = env.int("API_KEY_CACHE_SECONDS", default=60)
CACHES = {
    "default": {
        "BACKEND": "core.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {**_REDIS_TIMEOUTS, "health_check_interval": 30},
    },
    "local": LOCAL_CACHE,  # noqa: F405
}
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/14")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "queue_order_strategy": "priority",
    **_REDIS_TIMEOUTS,
}
CELERY_BROKER_TRANSPORT = "core.redis:BrokerTransport"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Worker processes started by the tests are handed the same directory.
MEDIA_ROOT = env("MEDIA_ROOT", default="") or tempfile.mkdtemp(prefix="offload-media-")
JOBS_ENABLE_DIAGNOSTICS = True
# The job type README's "Adding a job type" shows, installed as an app of the project's would be.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.wordcount"]  # noqa: F405
LOG_FORMAT = "text"
LOGGING["handlers"]["console"]["formatter"] = "text"  # noqa: F405
# The suite never runs collectstatic: static files are looked for per request, not scanned at start.
WHITENOISE_AUTOREFRESH = True
