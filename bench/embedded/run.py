"""The embedded default (SQLite, kombu's filesystem broker): diagnostic no-op jobs drained by one
worker with the product's settings, against the same worker taking one message a pool process at a
time (`--prefetch-multiplier 1`, what Redis and RabbitMQ get).

    python bench/embedded/run.py [--jobs 40] [--concurrency 2]

Each side gets a fresh SQLite database and broker folder under a temporary directory; jobs are
submitted before the worker starts and timed from its first job to its last. Prints jobs per second
for both and the ratio.
"""

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench.common import BIN, ROOT, wait_until  # noqa: E402

SUBMIT = (
    "from accounts.models import Tenant; from jobs.services import job_submit\n"
    "tenant = Tenant.objects.create(slug='bench', name='Bench')\n"
    "for _ in range({jobs}): job_submit(tenant=tenant, type='diagnostic', payload={{'steps': 0}})"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    ours = _drain(args, [])
    one_at_a_time = _drain(args, ["--prefetch-multiplier", "1"])
    print(f"jobs: {args.jobs}, worker concurrency: {args.concurrency}")
    print(f"product settings            : {ours:8.1f} jobs/s")
    print(f"one message a process (base): {one_at_a_time:8.1f} jobs/s")
    print(f"ratio (ours / base)         : {ours / one_at_a_time:8.2f}")


def _drain(args, worker_options: list[str]) -> float:
    with tempfile.TemporaryDirectory(prefix="offload-embedded-bench-") as var:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
        }
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.base",
            DEBUG="true",
            SECRET_KEY="bench-only-secret",
            VAR_DIR=var,
            LOG_LEVEL="WARNING",
            PYTHONPATH=str(ROOT),
        )
        manage = [str(BIN / "python"), "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        subprocess.run(
            [*manage, "shell", "-c", SUBMIT.format(jobs=args.jobs)], cwd=ROOT, env=env, check=True
        )
        database = Path(var) / "offload.sqlite3"
        worker = subprocess.Popen(
            [str(BIN / "celery"), "-A", "config", "worker", "-l", "warning"]
            + ["-Q", "system,urgent,normal,batch", "--concurrency", str(args.concurrency)]
            + worker_options,
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        try:
            started = wait_until(lambda: _count(database, "status != 'pending'") > 0, timeout=120)
            finished = wait_until(
                lambda: _count(database, "status = 'completed'") == args.jobs, timeout=600
            )
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
    return args.jobs / (finished - started)


def _count(database: Path, condition: str) -> int:
    with sqlite3.connect(database) as db:
        return db.execute(f"SELECT COUNT(*) FROM jobs_job WHERE {condition}").fetchone()[0]


if __name__ == "__main__":
    main()
