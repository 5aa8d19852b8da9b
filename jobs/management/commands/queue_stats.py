from django.core.management.base import BaseCommand

from jobs.models import Job
from jobs.selectors import job_counts, queue_depths, workers_seen


class Command(BaseCommand):
    help = "Print job counts by queue, type and status, queue depths and the workers seen."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="Only this tenant's jobs (slug).")

    def handle(self, *args, tenant=None, **options):
        jobs = Job.objects.all()
        if tenant:
            jobs = jobs.filter(tenant__slug=tenant)
        statuses = Job.Status.values
        self.stdout.write(f"{'queue':<8} {'type':<24} " + " ".join(f"{s:>10}" for s in statuses))
        for row in job_counts(jobs):
            cells = " ".join(f"{row[s]:>10}" for s in statuses)
            self.stdout.write(f"{row['queue']:<8} {row['type']:<24} {cells}")
        depths = queue_depths()
        self.stdout.write("Due pending: " + ", ".join(f"{q}={n}" for q, n in depths.items()))
        workers = list(workers_seen())
        for worker in workers:
            self.stdout.write(
                f"Worker {worker.hostname} ({worker.queues}), seen {worker.last_seen_at:%H:%M:%S}"
            )
        self.stdout.write(f"{sum(depths.values())} due pending jobs, {len(workers)} workers seen.")
