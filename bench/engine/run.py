"""Jobs through Offload's engine against raw Celery no-op tasks, same broker, same worker options.

    python bench/engine/run.py [--jobs 1000] [--concurrency 2] [--rounds 5]

Both sides are measured from the first submission to the last completion, alternating, and the
best round of each is kept (the machine's other load only ever slows a round down). Prints jobs
per second for both and the ratio (target: ours >= 0.5 x raw Celery).

The worker runs with the product's settings, so its pool processes are replaced every
WORKER_MAX_TASKS_PER_CHILD tasks (200); that replacement costs raw Celery's no-op tasks more than
Offload's jobs, so the ratio moves with it: `WORKER_MAX_TASKS_PER_CHILD=100000` measures both
without it.
"""

import argparse
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench.common import bench_env, prepare_database, start_worker, wait_until  # noqa: E402

NO_OP = {"steps": 0, "step_seconds": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    env = bench_env("engine")
    prepare_database(env)
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings

    from accounts.models import Tenant
    from bench.engine.noop import noop
    from core.redis import get_redis
    from jobs.models import Job
    from jobs.services import job_submit

    tenant = Tenant.objects.create(slug="bench", name="Bench")
    redis = get_redis()
    completed = Job.objects.filter(status=Job.Status.COMPLETED)

    def raw_round() -> float:
        redis.delete("bench:noop")
        started = time.monotonic()
        for _ in range(args.jobs):
            noop.apply_async(queue="normal")
        done = wait_until(lambda: int(redis.get("bench:noop") or 0) >= args.jobs, timeout=600)
        return args.jobs / (done - started)

    def ours_round() -> float:
        Job.objects.all().delete()
        started = time.monotonic()
        for _ in range(args.jobs):
            job_submit(tenant=tenant, type="diagnostic", payload=NO_OP)
        done = wait_until(lambda: completed.count() >= args.jobs, timeout=600, interval=0.05)
        return args.jobs / (done - started)

    worker = start_worker(env, concurrency=args.concurrency, include="bench.engine.noop")
    try:
        for _ in range(20):
            noop.apply_async(queue="normal")
            job_submit(tenant=tenant, type="diagnostic", payload=NO_OP)
        wait_until(lambda: completed.count() >= 20, timeout=60)
        raw_rates, our_rates = [], []
        for _ in range(args.rounds):
            raw_rates.append(raw_round())
            our_rates.append(ours_round())
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)

    raw, ours = max(raw_rates), max(our_rates)
    print(
        f"jobs per round: {args.jobs}, rounds: {args.rounds}, worker concurrency: {args.concurrency},"
        f" pool processes replaced every {settings.CELERY_WORKER_MAX_TASKS_PER_CHILD} tasks"
    )
    print(
        f"raw Celery no-op tasks : {raw:8.1f} tasks/s  (rounds: {', '.join(f'{r:.0f}' for r in raw_rates)})"
    )
    print(
        f"Offload diagnostic jobs: {ours:8.1f} jobs/s   (rounds: {', '.join(f'{r:.0f}' for r in our_rates)})"
    )
    print(f"ratio (ours / raw)     : {ours / raw:8.2f}  (target >= 0.5)")


if __name__ == "__main__":
    main()
