"""Sliding-window rate limits checked atomically across every web process.

Several limits are checked together: a request is counted against all of them only when all of
them allow it, so a request refused by one limit spends none of the others.
"""

import functools
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from django.db import transaction
from django.utils import timezone

from core.deletion import delete_in_batches
from core.models import RateLimitBucket
from core.redis import get_redis

T = TypeVar("T")

# KEYS: one sorted set per limit. ARGV: now (ms), a unique member, then limit, window (ms) and
# cost (hits this request counts for) per key. Returns per key: remaining after this request, ms
# until the window has room for it again (refused) or frees a slot (allowed); and a leading 1/0
# for allowed.
_SLIDING_WINDOW = """
local now = tonumber(ARGV[1])
local member = ARGV[2]
local allowed = 1
local counts = {}
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[1 + i * 3])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  counts[i] = redis.call('ZCARD', key)
  if counts[i] + tonumber(ARGV[2 + i * 3]) > tonumber(ARGV[i * 3]) then allowed = 0 end
end
local out = {allowed}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i * 3])
  local window = tonumber(ARGV[1 + i * 3])
  local cost = tonumber(ARGV[2 + i * 3])
  if allowed == 1 then
    for hit = 1, cost do redis.call('ZADD', key, now, member .. ':' .. hit) end
    redis.call('PEXPIRE', key, window)
    counts[i] = counts[i] + cost
  end
  -- Refused, the request waits for as many hits to leave as it is over by: the oldest of them.
  local at = 0
  if allowed == 0 and counts[i] + cost > limit then at = counts[i] + cost - limit - 1 end
  local oldest = redis.call('ZRANGE', key, at, at, 'WITHSCORES')
  local reset = window
  -- Clocks of racing web processes differ by a few ms: a hit stamped after `now` may leave the
  -- window a moment more than a window from now, and the request is told so (61 s of a minute).
  if oldest[2] then reset = tonumber(oldest[2]) + window - now end
  table.insert(out, limit - counts[i])
  table.insert(out, reset)
end
return out
"""


@functools.cache
def _sliding_window(client):
    """The script, sent by its SHA1 (EVALSHA) rather than in full on every request."""
    return client.register_script(_SLIDING_WINDOW)


# A refusal names its limit's window in these words.
WINDOW_WORDS = {60: "a minute", 3600: "an hour", 86400: "a day"}


@dataclass(frozen=True)
class Limit:
    name: str
    key: str
    limit: int
    window: int  # seconds
    cost: int = 1  # hits the request counts for (a job drawing several images reserves them all)
    counts: str = ""  # what it counts, for a refusal to name ("job submissions")


@dataclass(frozen=True)
class LimitState:
    limit: Limit
    remaining: int
    reset: int  # seconds until the window frees a slot

    @property
    def exhausted(self) -> bool:
        """No room left for another request of this cost."""
        return self.remaining < self.limit.cost


@dataclass(frozen=True)
class Decision:
    allowed: bool
    states: list[LimitState]
    # Names the hits an allowed decision counted in Redis, for rate_limit_failure to take back.
    hits: str = ""

    @property
    def exhausted_limit(self) -> str:
        return next((s.limit.name for s in self.states if s.exhausted), "")

    @property
    def retry_after(self) -> int:
        blocking = [s.reset for s in self.states if s.exhausted]
        return max(blocking, default=0)

    @property
    def refusal(self) -> str:
        """A refused request's problem detail: the limit it hit and when to send it again."""
        limit = next(s.limit for s in self.states if s.exhausted)
        window = WINDOW_WORDS[limit.window]
        if limit.cost > limit.limit:
            # A limit of 0 (a key stopped in the admin) refuses every request, however long it waits.
            counts = limit.counts[:1].upper() + limit.counts[1:]
            return f"{counts} are stopped: the limit is {limit.limit} {window}, until it is raised."
        return (
            f"Too many {limit.counts}: the limit is {limit.limit} {window}; "
            f"send it again in {max(self.retry_after, 1)} seconds (Retry-After)."
        )

    def headers(self) -> dict[str, str]:
        if not self.states:
            return {}
        tightest = min(self.states, key=lambda s: (s.remaining, -s.reset))
        headers = {
            "RateLimit-Policy": ", ".join(
                f'"{s.limit.name}";q={s.limit.limit};w={s.limit.window}' for s in self.states
            ),
            "RateLimit": f'"{tightest.limit.name}";r={max(tightest.remaining, 0)};t={tightest.reset}',
            "X-RateLimit-Limit": str(tightest.limit.limit),
            "X-RateLimit-Remaining": str(max(tightest.remaining, 0)),
            "X-RateLimit-Reset": str(math.ceil(time.time()) + tightest.reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(self.retry_after, 1))
        return headers


def rate_limit_hit(limits: list[Limit]) -> Decision:
    """Count one request (its `cost` in hits) against every limit, or against none when any of
    them has no room left for it."""
    if not limits:
        return Decision(allowed=True, states=[])
    client = get_redis()
    if client is None:
        return _hit_in_database(limits)
    member = uuid.uuid4().hex
    args = [int(time.time() * 1000), member]
    for limit in limits:
        args += [limit.limit, limit.window * 1000, limit.cost]
    out = _sliding_window(client)(keys=[f"rl:{limit.key}" for limit in limits], args=args)
    states = [
        LimitState(
            limit=limit, remaining=int(out[1 + i * 2]), reset=math.ceil(out[2 + i * 2] / 1000)
        )
        for i, limit in enumerate(limits)
    ]
    return Decision(allowed=bool(out[0]), states=states, hits=member)


def rate_limit_failure(limit: Limit, attempt: Callable[[], T | None]) -> tuple[Decision, T | None]:
    """Run `attempt` when `limit` has room for one more failure, and count it against the limit
    only when it failed (returned None): racing attempts never run more of them than the limit
    has room for, and one that succeeds, or raises (it could not tell: the database out of reach),
    spends nothing. Refused, `attempt` does not run. With Redis, it is counted before it runs and
    the count taken back unless it failed; in the database, the limit's row is held while it runs
    and written only when it failed."""
    client = get_redis()
    if client is None:
        return _failure_in_database(limit, attempt)
    decision = rate_limit_hit([limit])
    if not decision.allowed:
        return decision, None
    hits = [f"{decision.hits}:{hit}" for hit in range(1, limit.cost + 1)]
    try:
        result = attempt()
    except Exception:
        client.zrem(f"rl:{limit.key}", *hits)
        raise
    if result is not None:
        client.zrem(f"rl:{limit.key}", *hits)
    return decision, result


def rate_limit_buckets_purge() -> int:
    """Delete the database's counts (embedded default) whose every hit has left its window, as
    Redis lets its counts expire: a count per client address would otherwise stay for ever."""
    return delete_in_batches(RateLimitBucket.objects.filter(expires_at__lte=timezone.now()))


@transaction.atomic
def _hit_in_database(limits: list[Limit]) -> Decision:
    now = time.time()
    buckets = list(zip(limits, _buckets_held(limits, now), strict=True))
    allowed = all(len(bucket.hits) + limit.cost <= limit.limit for limit, bucket in buckets)
    if allowed:
        for limit, bucket in buckets:
            _hits_add(limit, bucket, now)
    return Decision(
        allowed=allowed,
        states=[_bucket_state(limit, bucket, allowed, now) for limit, bucket in buckets],
    )


@transaction.atomic
def _failure_in_database(
    limit: Limit, attempt: Callable[[], T | None]
) -> tuple[Decision, T | None]:
    now = time.time()
    [bucket] = _buckets_held([limit], now)
    allowed = len(bucket.hits) + limit.cost <= limit.limit
    result = attempt() if allowed else None
    if allowed and result is None:
        _hits_add(limit, bucket, now)
    return Decision(allowed=allowed, states=[_bucket_state(limit, bucket, allowed, now)]), result


def _buckets_held(limits: list[Limit], now: float) -> list[RateLimitBucket]:
    """The limits' rows, in their order, locked until the transaction ends and holding only the
    hits still in their windows."""
    keys = sorted({limit.key for limit in limits})
    by_key = {}
    # The purge may delete a row whose hits have all expired between its get_or_create and its
    # lock: it is created again, this time by this transaction, where no purge can see it.
    while len(by_key) < len(keys):
        for key in keys:
            RateLimitBucket.objects.get_or_create(key=key)
        by_key = {
            bucket.key: bucket
            for bucket in RateLimitBucket.objects.select_for_update().filter(key__in=keys)
        }
    for limit in limits:
        bucket = by_key[limit.key]
        bucket.hits = [hit for hit in bucket.hits if hit > now - limit.window]
    return [by_key[limit.key] for limit in limits]


def _hits_add(limit: Limit, bucket: RateLimitBucket, now: float) -> None:
    bucket.hits.extend([now] * limit.cost)
    bucket.expires_at = datetime.fromtimestamp(now + limit.window, tz=UTC)
    bucket.save(update_fields=["hits", "updated_at", "expires_at"])


def _bucket_state(limit: Limit, bucket: RateLimitBucket, allowed: bool, now: float) -> LimitState:
    over = len(bucket.hits) + limit.cost - limit.limit
    at = over - 1 if not allowed and over > 0 else 0
    oldest = sorted(bucket.hits)[min(at, len(bucket.hits) - 1)] if bucket.hits else now
    reset = max(math.ceil(oldest + limit.window - now), 1)
    return LimitState(limit=limit, remaining=limit.limit - len(bucket.hits), reset=reset)
