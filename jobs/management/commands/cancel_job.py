from jobs.management.jobcommands import COMMAND_LINE, JobActionCommand
from jobs.services import job_cancel


class Command(JobActionCommand):
    help = (
        "Cancel jobs by id: a pending one at once (its credits refunded), a processing one at its "
        "next check. A finished job is refused."
    )

    def act(self, job):
        job = job_cancel(job=job, actor=COMMAND_LINE)
        if job.is_finished:
            return "canceled."
        return "cancel requested; the job stops at its next check."
