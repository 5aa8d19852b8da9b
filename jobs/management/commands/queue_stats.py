from core.management.base import OperatorCommand, json_dumped, local_time
from jobs.management.jobcommands import jobs_of_workspace
from jobs.models import Job
from jobs.selectors import (
    NEEDING_ATTENTION,
    beats_ticking,
    due_by_workspace,
    job_counts,
    queue_depths,
    queue_worker_processes,
    workers_seen,
)


class Command(OperatorCommand):
    help = (
        "Print job counts by queue, type and status, queue depths, the jobs needing attention and "
        "the workers seen; --json for scripts and monitors."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="Only this tenant's jobs (slug).")
        parser.add_argument("--json", action="store_true", help="One JSON document.")

    def handle(self, *args, tenant=None, **options):
        jobs = jobs_of_workspace(Job.objects.all(), tenant)
        stats = {
            "counts": job_counts(jobs),
            "due_pending": queue_depths(),
            "due_by_workspace": [
                {"workspace": row["workspace"], "due": row["due"]} for row in due_by_workspace()
            ],
            "attention": {
                value: getattr(jobs, method)().count()
                for value, (_, method) in NEEDING_ATTENTION.items()
            },
            "workers": [
                {"hostname": w.hostname, "queues": w.queues, "last_seen_at": w.last_seen_at}
                for w in workers_seen()
            ],
            "worker_processes": queue_worker_processes(),
            "beats": [
                {"hostname": b.hostname, "pid": b.pid, "last_seen_at": b.last_seen_at}
                for b in beats_ticking()
            ],
        }
        if options["json"]:
            self.stdout.write(json_dumped(stats))
            return
        self._print(stats)

    def _print(self, stats: dict) -> None:
        statuses = Job.Status.values
        self.stdout.write(f"{'queue':<8} {'type':<24} " + " ".join(f"{s:>10}" for s in statuses))
        for row in stats["counts"]:
            cells = " ".join(f"{row[s]:>10}" for s in statuses)
            self.stdout.write(f"{row['queue']:<8} {row['type']:<24} {cells}")
        depths = stats["due_pending"]
        self.stdout.write(
            "Due pending, all workspaces: " + ", ".join(f"{q}={n}" for q, n in depths.items())
        )
        if stats["due_by_workspace"]:
            self.stdout.write(
                "Most due pending, by workspace: "
                + ", ".join(f"{row['workspace']}={row['due']}" for row in stats["due_by_workspace"])
            )
        self.stdout.write(
            "Needs attention: "
            + ", ".join(
                f"{NEEDING_ATTENTION[k][0].lower()}={n}" for k, n in stats["attention"].items()
            )
        )
        for worker in stats["workers"]:
            self.stdout.write(
                f"Worker {worker['hostname']} ({worker['queues']}),"
                f" seen {local_time(worker['last_seen_at'], '%H:%M:%S')}"
            )
        processes = stats["worker_processes"]
        self.stdout.write(
            "Worker processes by queue: " + ", ".join(f"{q}={n}" for q, n in processes.items())
        )
        if unserved := [queue for queue, n in processes.items() if not n]:
            self.stdout.write(
                f"No worker seen serves {', '.join(unserved)}: nothing sent there runs until one"
                " does (-Q names the queues a worker serves)."
            )
        if len(stats["beats"]) > 1:
            self.stdout.write(
                f"{len(stats['beats'])} beats are running: "
                + ", ".join(f"{b['hostname']} (pid {b['pid']})" for b in stats["beats"])
                + ". Each sends every schedule: stop all but one."
            )
        self.stdout.write(
            f"{sum(depths.values())} due pending jobs in all workspaces,"
            f" {len(stats['workers'])} workers seen."
        )
