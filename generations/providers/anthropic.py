"""Anthropic's Messages API (ANTHROPIC_BASE_URL). It writes text only: images are drawn offline."""

import json

from django.conf import settings

from generations.providers.offline import OfflineProvider
from generations.providers.remote import RemoteProvider
from generations.schemas import AnswerCut, OutputInvalid

API_VERSION = "2023-06-01"


class AnthropicProvider(RemoteProvider):
    name = "anthropic"

    def __init__(self):
        self.base_url = settings.ANTHROPIC_BASE_URL.rstrip("/")
        self.keys = settings.ANTHROPIC_API_KEYS
        self.model = settings.ANTHROPIC_MODEL
        self.rpm = settings.ANTHROPIC_RPM
        self.timeout = settings.GENERATION_HTTP_TIMEOUT

    def _headers(self, key: str) -> dict:
        return {"x-api-key": key, "anthropic-version": API_VERSION}

    def _generate(self, task: str, inputs: dict) -> dict:
        response = self._post(
            "/v1/messages",
            json_body={
                "model": self.model,
                "max_tokens": settings.ANTHROPIC_MAX_TOKENS,
                "system": self._instructions(task),
                "messages": [
                    {
                        "role": "user",
                        "content": json.dumps({"task": task, **inputs}, ensure_ascii=False),
                    }
                ],
            },
        )
        try:
            answer = response.json()
            content = "".join(
                part["text"]
                for part in answer["content"]
                if isinstance(part, dict) and part.get("type") == "text"
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise OutputInvalid(f"no text in the answer ({exc!r})") from exc
        if answer.get("stop_reason") == "max_tokens":
            raise AnswerCut(f"ANTHROPIC_MAX_TOKENS={settings.ANTHROPIC_MAX_TOKENS}")
        return self._parse(content)

    def image(self, prompt: str, width: int, height: int) -> bytes:
        return OfflineProvider().image(prompt, width, height)

    def image_edit(self, source: bytes, prompt: str) -> bytes:
        return OfflineProvider().image_edit(source, prompt)
