"""The production settings, plus the two bare baseline endpoints of the API benchmark."""

from config.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.api.urls"
