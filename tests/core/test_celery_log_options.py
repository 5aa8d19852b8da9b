"""A worker's `-l` and `-f` options do what Celery documents for them: `-l debug` shows the debug
lines an operator asks for, `-f <file>` writes the lines to that file rather than to stderr."""

import subprocess
import uuid

import pytest

from jobs.models import Job
from jobs.services import job_submit
from tests.worker import ROOT, _celery, wait_for, worker_env, worker_stop

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_started_with_debug_level_and_a_log_file_logs_debug_lines_there(tenant, tmp_path):
    logfile = tmp_path / "worker.log"
    printed = tmp_path / "printed.log"
    name = f"test-{uuid.uuid4().hex[:8]}"
    command = [*_celery(), "worker", "-l", "debug", "-f", str(logfile), "-n", f"{name}@%h"]
    command += ["-Q", "system,urgent,normal,batch", "--concurrency", "1", "--without-gossip"]
    with printed.open("w") as output:
        worker = subprocess.Popen(
            command,
            cwd=ROOT,
            env=worker_env(),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(
            lambda: logfile.exists() and " ready." in logfile.read_text(),
            timeout=60,
            message="the worker's ready line in its log file",
        )
        job = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 1})
        wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, message="the job")
        wait_for(lambda: "completed in" in logfile.read_text(), message="the job's last line")
    finally:
        worker_stop(worker)

    lines = logfile.read_text().splitlines()
    assert any(" DEBUG " in line for line in lines)
    assert any(f"Job {job.pk} attempt 1/3 started: diagnostic" in line for line in lines)
    assert " ready." not in printed.read_text()
    assert f"Job {job.pk}" not in printed.read_text()
