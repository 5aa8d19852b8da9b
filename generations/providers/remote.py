"""What the OpenAI-compatible and Anthropic providers share: real HTTP with timeouts, several API
keys rotated with a cool-down for a key that answered 429, a requests-per-minute cap that holds across
every worker (the shared atomic limiter), and the mapping of answers onto job errors."""

import datetime
import email.utils
import json
import logging
import math
import re
import time

import httpx

from core.ratelimit import Limit, rate_limit_hit
from core.redis import get_redis
from generations.providers.base import Provider
from generations.schemas import SHAPES, OutputInvalid
from generations.urlsafety import DeadlineTransport, environment_proxy
from jobs.errors import PermanentError, RetryableError, WaitForCapacity

logger = logging.getLogger(__name__)

DEFAULT_COOLDOWN_SECONDS = 30
RATE_CAP_WINDOW = 60  # seconds: the RPM settings count requests a minute
# A JSON answer in a Markdown code fence, as chat models without a JSON mode (Claude) often write it.
FENCED = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.S | re.I)
_local_cooldowns: dict[str, float] = {}


class RemoteProvider(Provider):
    keys: list[str]
    rpm: int
    timeout: float
    # Requests already counted against the cap (a job's images, reserved together), good until
    # their hits leave the cap's minute (time.time(), the limiter's clock).
    reserved = 0
    reserved_until = 0.0

    def _post(
        self, path: str, *, json_body: dict | None = None, files=None, data=None
    ) -> httpx.Response:
        """POST with the next key that is not cooling down; a 429 cools that key and tries the next."""
        if not self.keys:
            raise PermanentError(
                "MODEL_ERROR", f"No API key is configured for the {self.name} provider."
            )
        self._respect_rate_cap()
        resting = self._cooldowns_left()
        tried = 0
        for index in self._key_order():
            if resting[index]:
                continue
            tried += 1
            # The timeout bounds the whole call, however slowly the answer comes.
            transport = DeadlineTransport(
                verify=httpx.create_ssl_context(),
                deadline=time.monotonic() + self.timeout,
                proxy=environment_proxy(self.base_url),
            )
            try:
                with httpx.Client(transport=transport, timeout=self.timeout) as client:
                    response = client.post(
                        f"{self.base_url}{path}",
                        headers=self._headers(self.keys[index]),
                        json=json_body,
                        files=files,
                        data=data,
                        follow_redirects=False,
                    )
            except httpx.TimeoutException as exc:
                raise RetryableError(
                    "PROVIDER_TIMEOUT", f"The {self.name} provider timed out: {exc}"
                ) from exc
            except httpx.HTTPError as exc:
                raise RetryableError(
                    "PROVIDER_UNAVAILABLE", f"The {self.name} provider is unreachable: {exc}"
                ) from exc
            if response.status_code == 429:
                self._cool_down(index, response)
                continue
            if response.status_code >= 500:
                # An overloaded provider (503) may say when to come back: not before then.
                raise RetryableError(
                    "PROVIDER_ERROR",
                    f"{self.name} answered {response.status_code}: {self._message(response)}",
                    retry_after=_retry_after_given(response),
                )
            if response.status_code >= 400:
                raise PermanentError(
                    "MODEL_ERROR",
                    f"{self.name} answered {response.status_code}: {self._message(response)}",
                )
            return response
        if not tried:
            # Nothing was asked: waiting for the first key to come back spends no attempt.
            raise WaitForCapacity(
                min(resting), f"every {self.name} API key rests after a 429 (Retry-After)"
            )
        raise RetryableError(
            "PROVIDER_RATE_LIMITED",
            f"Every {self.name} API key is rate-limited ({tried} tried); retrying later.",
        )

    def _reserve(self, requests: int) -> None:
        """Count `requests` against the cap now, for the next calls to make within the minute."""
        self._respect_rate_cap(requests)
        self.reserved, self.reserved_until = requests, time.time() + RATE_CAP_WINDOW

    def _respect_rate_cap(self, requests: int = 1) -> None:
        if self.reserved and time.time() < self.reserved_until:
            self.reserved -= 1
            return
        self.reserved = 0
        if not self.rpm:
            return
        if requests > self.rpm:
            raise PermanentError(
                "PROVIDER_RATE_LIMITED",
                f"{requests} requests at once are more than the {self.rpm} a minute {self.name} "
                "allows (its RPM setting).",
            )
        limit = Limit(
            "provider", f"provider:{self.name}:rpm", self.rpm, RATE_CAP_WINDOW, cost=requests
        )
        decision = rate_limit_hit([limit])
        if not decision.allowed:
            raise WaitForCapacity(
                decision.retry_after, f"{self.name} is at {self.rpm} requests a minute"
            )

    def _key_order(self) -> list[int]:
        """Round-robin across workers: each request starts at the next key."""
        client = get_redis()
        start = (
            client.incr(f"provider:{self.name}:next") if client is not None else int(time.time())
        )
        return [(start + offset) % len(self.keys) for offset in range(len(self.keys))]

    def _cooldowns_left(self) -> list[float]:
        """Seconds until each key may be used again after its 429; 0 for a key that may be used now.
        A cool-down holds the moment it ends (its TTL only clears it away)."""
        names = [self._cooldown_name(index) for index in range(len(self.keys))]
        client = get_redis()
        ends = client.mget(names) if client is not None else map(_local_cooldowns.get, names)
        now = time.time()
        return [max(float(end or 0) - now, 0.0) for end in ends]

    def _cool_down(self, index: int, response: httpx.Response) -> None:
        seconds = _retry_after(response)
        logger.warning(
            "%s key #%s answered 429; cooling it down for %ss.", self.name, index, seconds
        )
        name, end = self._cooldown_name(index), time.time() + seconds
        client = get_redis()
        if client is not None:
            client.set(name, end, ex=seconds)
        else:
            _local_cooldowns[name] = end

    def _cooldown_name(self, index: int) -> str:
        return f"provider:{self.name}:cooldown:{index}"

    def _instructions(self, task: str) -> str:
        return (
            "You produce learning material as JSON. Answer with one JSON object only, no prose, "
            f"shaped exactly like: {SHAPES[task]}. Write in the language of the input."
        )

    def _message(self, response: httpx.Response) -> str:
        """The provider's words about an error, for the job's error, which the workspace reads:
        never with one of the platform's API keys in it, should the provider quote the one it got."""
        message = _error_text(response)
        for key in self.keys:
            message = message.replace(key, "[redacted]")
        return message

    def _parse(self, content: str) -> dict:
        if isinstance(content, str) and (fenced := FENCED.fullmatch(content.strip())):
            content = fenced.group(1)
        try:
            output = json.loads(content)
        except (TypeError, json.JSONDecodeError) as exc:
            raise OutputInvalid(f"not JSON ({exc})") from exc
        if not isinstance(output, dict):
            raise OutputInvalid("not a JSON object")
        return output


def _retry_after(response: httpx.Response) -> int:
    """A 429's Retry-After in seconds (a number or an HTTP date), from 1 to an hour; the default
    when it gives neither. Bounded before it is made whole: int() of an infinity raises."""
    seconds = _retry_after_given(response)
    if seconds is None:
        return DEFAULT_COOLDOWN_SECONDS
    return int(max(1, min(seconds, 3600)))


def _retry_after_given(response: httpx.Response) -> float | None:
    """The seconds a Retry-After asks for, in seconds or as an HTTP date (0 for one past), not
    yet bounded; None when there is none, or it is neither (nan, a date that does not parse)."""
    given = response.headers.get("Retry-After", "").strip()
    if not given:
        return None
    try:
        seconds = float(given)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(given)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:  # "-0000": UTC, as HTTP dates are
            moment = moment.replace(tzinfo=datetime.UTC)
        seconds = moment.timestamp() - time.time()
    if math.isnan(seconds):
        return None
    return max(seconds, 0.0)


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", error))[:500]
    return str(error or body)[:500]
