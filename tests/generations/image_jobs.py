"""What the image job tests share: coloured images to script a provider with, a job drawing them,
and what became of them."""

import io
from pathlib import Path

from django.conf import settings
from PIL import Image

from generations.models import GeneratedImage
from jobs.models import Job
from jobs.services import job_submit
from tests.generations.fake_openai import FakeOpenAI

RED, GREEN, BLUE = (200, 30, 30), (30, 200, 30), (30, 30, 200)


def png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def images_submit(tenant, count: int) -> Job:
    payload = {"prompt": "a fjord", "width": 64, "height": 64, "count": count}
    return job_submit(tenant=tenant, type="image_generation", payload=payload)


def images_drawn(server: FakeOpenAI) -> int:
    """How many images the provider was asked to draw."""
    return sum(request["path"].endswith("/images/generations") for request in server.requests)


def images_stored(tenant) -> list[Path]:
    folder = Path(settings.MEDIA_ROOT) / "generations" / str(tenant.pk)
    return list(folder.glob("*.png"))


def image_colours(job: Job) -> list[tuple]:
    """The colour of each of the job's images, in the order its result lists them."""
    colours = []
    for pk in job.result["imageIds"]:
        with GeneratedImage.objects.get(pk=pk).file.open("rb") as handle:
            colours.append(Image.open(handle).convert("RGB").getpixel((32, 32)))
    return colours
