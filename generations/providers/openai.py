"""Any OpenAI-compatible endpoint: OpenAI, Ollama, vLLM, LM Studio (OPENAI_BASE_URL)."""

import base64
import json

from django.conf import settings

from generations.providers.remote import RemoteProvider
from generations.schemas import OutputInvalid


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
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise OutputInvalid(f"no message in the answer ({exc!r})") from exc
        return self._parse(content)

    def image(self, prompt: str, width: int, height: int) -> bytes:
        response = self._post(
            "/images/generations",
            json_body={
                "model": self.image_model,
                "prompt": prompt,
                "size": f"{width}x{height}",
                "response_format": "b64_json",
            },
        )
        return _image_bytes(response)

    def image_edit(self, source: bytes, prompt: str) -> bytes:
        response = self._post(
            "/images/edits",
            files={"image": ("image.png", source, "image/png")},
            data={"model": self.image_model, "prompt": prompt, "response_format": "b64_json"},
        )
        return _image_bytes(response)


def _image_bytes(response) -> bytes:
    try:
        return base64.b64decode(response.json()["data"][0]["b64_json"], validate=True)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise OutputInvalid(f"no image in the answer ({exc!r})") from exc
