from jobs.management.jobcommands import COMMAND_LINE, JobActionCommand
from jobs.services import job_requeue


class Command(JobActionCommand):
    help = (
        "Put failed (dead-letter) or canceled jobs back in their queue, with fresh attempts and "
        "their credits charged again."
    )

    def act(self, job):
        job = job_requeue(job=job, actor=COMMAND_LINE)
        return f"requeued in the {job.priority} queue."
