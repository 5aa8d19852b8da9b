from jobs.management.jobcommands import job_action_command
from jobs.services import job_retry

Command = job_action_command(
    "Submit failed or canceled jobs again, each as a new job whose retry_of points back at it "
    "(credits charged as for any submit).",
    lambda job: f"retried as job {job_retry(job=job).pk}.",
)
