from jobs.management.jobcommands import JobActionCommand
from jobs.services import job_retry


class Command(JobActionCommand):
    help = (
        "Submit failed or canceled jobs again, each as a new job whose retry_of points back at it "
        "(credits charged as for any submit)."
    )

    def act(self, job):
        return f"retried as job {job_retry(job=job).pk}."
