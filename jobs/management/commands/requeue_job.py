from jobs.management.jobcommands import COMMAND_LINE, job_action_command
from jobs.services import job_requeue

Command = job_action_command(
    "Put failed (dead-letter) or canceled jobs back in their queue, with fresh attempts and their "
    "credits charged again.",
    lambda job: f"requeued in the {job_requeue(job=job, actor=COMMAND_LINE).priority} queue.",
)
