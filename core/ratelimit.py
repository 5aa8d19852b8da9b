"""Sliding-window rate limits checked atomically across every web process.

Several limits are checked together: a request is counted against all of them only when all of
them allow it, so a request refused by one limit spends none of the others.
"""

import functools
import math
import time
import uuid
from dataclasses import dataclass

from django.db import transaction

from core.models import RateLimitBucket
from core.redis import get_redis

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


@dataclass(frozen=True)
class Limit:
    name: str
    key: str
    limit: int
    window: int  # seconds
    cost: int = 1  # hits the request counts for (a job drawing several images reserves them all)


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
    # Names the hits an allowed decision counted, for rate_limit_refund.
    hits: str = ""

    @property
    def exhausted_limit(self) -> str:
        return next((s.limit.name for s in self.states if s.exhausted), "")

    @property
    def retry_after(self) -> int:
        blocking = [s.reset for s in self.states if s.exhausted]
        return max(blocking, default=0)

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


def rate_limit_refund(decision: Decision) -> None:
    """Take back the hits an allowed decision counted: for a request counted before it was known
    whether it should be (a failure, until it turns out not to be one)."""
    if not decision.allowed:
        return
    client = get_redis()
    if client is None:
        _refund_in_database(decision)
        return
    pipeline = client.pipeline(transaction=False)
    for state in decision.states:
        hits = [f"{decision.hits}:{hit}" for hit in range(1, state.limit.cost + 1)]
        pipeline.zrem(f"rl:{state.limit.key}", *hits)
    pipeline.execute()


@transaction.atomic
def _hit_in_database(limits: list[Limit]) -> Decision:
    now = time.time()
    buckets = []
    for limit in sorted(limits, key=lambda item: item.key):
        RateLimitBucket.objects.get_or_create(key=limit.key)
    by_key = {
        bucket.key: bucket
        for bucket in RateLimitBucket.objects.select_for_update().filter(
            key__in=[limit.key for limit in limits]
        )
    }
    for limit in limits:
        bucket = by_key[limit.key]
        bucket.hits = [hit for hit in bucket.hits if hit > now - limit.window]
        buckets.append((limit, bucket))
    allowed = all(len(bucket.hits) + limit.cost <= limit.limit for limit, bucket in buckets)
    states = []
    for limit, bucket in buckets:
        if allowed:
            bucket.hits.extend([now] * limit.cost)
            bucket.save(update_fields=["hits", "updated_at"])
        over = len(bucket.hits) + limit.cost - limit.limit
        at = over - 1 if not allowed and over > 0 else 0
        oldest = sorted(bucket.hits)[min(at, len(bucket.hits) - 1)] if bucket.hits else now
        reset = max(math.ceil(oldest + limit.window - now), 1)
        states.append(
            LimitState(limit=limit, remaining=limit.limit - len(bucket.hits), reset=reset)
        )
    # The hits are this moment's: a refund takes back as many hits of it.
    return Decision(allowed=allowed, states=states, hits=repr(now))


@transaction.atomic
def _refund_in_database(decision: Decision) -> None:
    at = float(decision.hits)
    by_key = {
        bucket.key: bucket
        for bucket in RateLimitBucket.objects.select_for_update().filter(
            key__in=[state.limit.key for state in decision.states]
        )
    }
    for state in decision.states:
        bucket = by_key[state.limit.key]
        for _ in range(min(state.limit.cost, bucket.hits.count(at))):
            bucket.hits.remove(at)
        bucket.save(update_fields=["hits", "updated_at"])
