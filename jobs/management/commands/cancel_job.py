from jobs.management.jobcommands import COMMAND_LINE, job_action_command
from jobs.services import job_cancel


def _cancel(job) -> str:
    job = job_cancel(job=job, actor=COMMAND_LINE)
    return "canceled." if job.is_finished else "cancel requested; it stops at its next check."


Command = job_action_command(
    "Cancel jobs by id: a pending one at once (its credits refunded), a processing one at its "
    "next check. A finished job is refused.",
    _cancel,
)
