"""The share-link cleanup against a row-by-row loop like the source document's, same data, same run.

    python bench/sharelinks/run.py [--links 100000] [--events 1000000]

Seeds PostgreSQL (database offload_bench_sharelinks) with expired links and view events (half of them
older than 90 days), then times a loop that deactivates and audits the links one by one, and our
batched cleanup. Prints both times, the ratio and our longest batch (targets: >= 10x, no batch over 1 s).
"""

import argparse
import io
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench.common import bench_env, prepare_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--links", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    env = bench_env("sharelinks")
    prepare_database(env)
    os.environ.update(env)
    import django

    django.setup()
    from accounts.models import Tenant

    tenant = Tenant.objects.create(slug="bench", name="Bench")
    started = time.monotonic()
    _seed(tenant.pk, args.links, args.events)
    print(
        f"seeded {args.links} expired links and {args.events} events in {time.monotonic() - started:.1f}s"
    )

    started = time.monotonic()
    loop = _row_by_row()
    loop_seconds = time.monotonic() - started
    _reset(tenant.pk, args.links, args.events)

    from sharelinks.services import share_links_cleanup

    batch_times, last = [], [time.monotonic()]

    def on_batch(size):
        now = time.monotonic()
        batch_times.append(now - last[0])
        last[0] = now

    started = time.monotonic()
    ours = share_links_cleanup(on_batch=on_batch)
    ours_seconds = time.monotonic() - started
    assert ours["deactivated"] == loop["deactivated"] == args.links, (ours, loop)
    assert ours["cleaned_events"] == loop["cleaned_events"], (ours, loop)

    print(f"links deactivated: {ours['deactivated']}, events deleted: {ours['cleaned_events']}")
    print(f"row-by-row loop : {loop_seconds:8.2f} s")
    print(f"our cleanup     : {ours_seconds:8.2f} s  ({len(batch_times)} batches)")
    print(f"ratio           : {loop_seconds / ours_seconds:8.1f}x faster  (target >= 10x)")
    print(f"longest batch   : {max(batch_times) * 1000:8.1f} ms  (target < 1000 ms)")
    print(
        f"links phase     : {sum(batch_times):8.2f} s, events phase: {ours_seconds - sum(batch_times):.2f} s"
    )


def _copy(table: str, columns: list[str], rows) -> None:
    from django.db import connection

    buffer = io.StringIO("".join(rows))
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        while chunk := buffer.read(1 << 20):
            copy.write(chunk)


def _seed(tenant_id: int, links: int, events: int) -> None:
    from django.db import connection

    _copy(
        "sharelinks_publiclink",
        [
            "tenant_id",
            "resource_type",
            "resource_id",
            "token_hash",
            "token_prefix",
            "expires_at",
            "view_count",
            "is_active",
            "deactivated_reason",
            "created_at",
        ],
        (
            f"{tenant_id}\tdeck\t1\t{uuid.uuid4().hex}\tbench\t2026-01-01 00:00:00+00\t0\tt\t\t2025-12-01 00:00:00+00\n"
            for _ in range(links)
        ),
    )
    _seed_events(events)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _seed_events(events: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM sharelinks_publiclink")
        low, high = cursor.fetchone()
    span = high - low + 1
    _copy(
        "sharelinks_publiclinkevent",
        ["link_id", "kind", "created_at", "client_hash", "user_agent"],
        (
            f"{low + i % span}\tview\t{'2020-01-01' if i % 2 else '2099-01-01'} 00:00:00+00\tabc\tfirefox\n"
            for i in range(events)
        ),
    )


def _reset(tenant_id: int, links: int, events: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE sharelinks_publiclink SET is_active = true, deactivated_at = NULL, deactivated_reason = ''"
        )
        cursor.execute("TRUNCATE accounts_auditevent, sharelinks_publiclinkevent")
    _seed_events(events)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _row_by_row() -> dict:
    """The source document's shape: fetch the expired links, then update and log each one."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.services import audit_record
    from sharelinks.models import PublicLink, PublicLinkEvent

    now = timezone.now()
    deactivated = 0
    for link in PublicLink.objects.filter(is_active=True, expires_at__lte=now).select_related(
        "tenant"
    ):
        link.is_active = False
        link.deactivated_at = now
        link.deactivated_reason = "expired_or_max_views"
        link.save(update_fields=["is_active", "deactivated_at", "deactivated_reason"])
        audit_record(
            tenant=link.tenant,
            resource=link,
            action="deactivate",
            metadata={"reason": "expired_or_max_views"},
        )
        deactivated += 1
    cleaned, _ = PublicLinkEvent.objects.filter(created_at__lt=now - timedelta(days=90)).delete()
    return {"deactivated": deactivated, "cleaned_events": cleaned}


if __name__ == "__main__":
    main()
