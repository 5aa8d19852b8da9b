"""Any OpenAI-compatible endpoint: OpenAI, Ollama, vLLM, LM Studio (OPENAI_BASE_URL)."""

import base64
import io
import json
import math

from django.conf import settings
from PIL import Image, ImageOps

from generations.images import DECODE_ERRORS, image_open
from generations.providers.base import images_missing
from generations.providers.remote import RemoteProvider
from generations.schemas import AnswerCut, OutputInvalid

# OpenAI's GPT image models (gpt-image-1 …) draw only these sizes, and refuse `response_format`:
# they always answer base64. Other models and OpenAI-compatible servers draw the size asked.
GPT_IMAGE_SIZES = ((1024, 1024), (1536, 1024), (1024, 1536))


class OpenAIProvider(RemoteProvider):
    name = "openai"

    def __init__(self):
        self.base_url = settings.OPENAI_BASE_URL.rstrip("/")
        self.keys = settings.OPENAI_API_KEYS
        self.model = settings.OPENAI_MODEL
        self.image_model = settings.OPENAI_IMAGE_MODEL
        self.rpm = settings.OPENAI_RPM
        self.timeout = settings.GENERATION_HTTP_TIMEOUT

    def _headers(self, key: str) -> dict:
        return {"Authorization": f"Bearer {key}"}

    def _generate(self, task: str, inputs: dict) -> dict:
        response = self._post(
            "/chat/completions",
            json_body={
                "model": self.model,
                "response_format": {"type": "json_object"},
                "messages": [
                    {"role": "system", "content": self._instructions(task)},
                    {
                        "role": "user",
                        "content": json.dumps({"task": task, **inputs}, ensure_ascii=False),
                    },
                ],
            },
        )
        try:
            choice = response.json()["choices"][0]
            content = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise OutputInvalid(f"no message in the answer ({exc!r})") from exc
        if choice.get("finish_reason") == "length":
            raise AnswerCut(self.model)
        return self._parse(content)

    def images(
        self, prompt: str, width: int, height: int, count: int, progress, *, kept=(), keep=None
    ) -> list[bytes]:
        """A job's images still to draw, their requests counted against OPENAI_RPM together before
        the first is drawn: a job does not stop half-way for the cap (those kept by an earlier
        attempt are not drawn, nor counted, again)."""
        missing = len(images_missing(count, kept))
        if not missing:
            return []
        self._reserve(missing)
        try:
            return super().images(prompt, width, height, count, progress, kept=kept, keep=keep)
        finally:
            self.reserved = 0

    def image(self, prompt: str, width: int, height: int) -> bytes:
        """The image at width × height: GPT image models draw the size of GPT_IMAGE_SIZES nearest
        that shape, and what comes back is cropped to the shape and scaled to the size."""
        body = {"model": self.image_model, "prompt": prompt}
        if self._gpt_image_model():
            body["size"] = "{}x{}".format(*_nearest_size(width, height))
        else:
            body |= {"size": f"{width}x{height}", "response_format": "b64_json"}
        drawn = _image_bytes(self._post("/images/generations", json_body=body))
        return _fitted(drawn, width, height)

    def image_edit(self, source: bytes, prompt: str) -> bytes:
        data = {"model": self.image_model, "prompt": prompt}
        if not self._gpt_image_model():
            data["response_format"] = "b64_json"
        response = self._post(
            "/images/edits", files={"image": ("image.png", source, "image/png")}, data=data
        )
        return _image_bytes(response)

    def _gpt_image_model(self) -> bool:
        return self.image_model.startswith("gpt-image")


def _image_bytes(response) -> bytes:
    try:
        return base64.b64decode(response.json()["data"][0]["b64_json"], validate=True)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise OutputInvalid(f"no image in the answer ({exc!r})") from exc


def _nearest_size(width: int, height: int) -> tuple[int, int]:
    """The size of GPT_IMAGE_SIZES nearest in shape (width to height) to the size asked."""
    return min(
        GPT_IMAGE_SIZES, key=lambda size: abs(math.log(size[0] * height / (size[1] * width)))
    )


def _fitted(content: bytes, width: int, height: int) -> bytes:
    """The image cropped to the shape of width × height around its centre, then scaled to it."""
    try:
        with image_open(content) as image:
            if image.size == (width, height):
                return content
            fitted = ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS)
    except DECODE_ERRORS as exc:
        raise OutputInvalid(f"not an image ({exc})") from exc
    buffer = io.BytesIO()
    fitted.save(buffer, format="PNG")
    return buffer.getvalue()
