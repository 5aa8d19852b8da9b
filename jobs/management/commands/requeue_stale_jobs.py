from core.management.base import OperatorCommand
from jobs.services import jobs_reap_stale


class Command(OperatorCommand):
    help = (
        "Return processing jobs whose worker stopped sending heartbeats (older than "
        "JOBS_STALE_AFTER_SECONDS) to pending, fail them with WORKER_LOST on their last attempt, "
        "or cancel them when a cancel was asked for: all of them, in rounds of 500 (a scheduled "
        "run takes one round)."
    )

    def handle(self, *args, **options):
        totals = {"requeued": 0, "failed": 0, "canceled": 0}
        while True:
            counts = jobs_reap_stale()
            left = counts.pop("left")
            for outcome, count in counts.items():
                totals[outcome] += count
            # A round that changed none of them would change none the next time: stop, say so.
            if not left or not any(counts.values()):
                break
            self.stdout.write(f"  {sum(totals.values())} stale jobs handled, {left} left…")
        summary = (
            f"Requeued {totals['requeued']} stale jobs, failed {totals['failed']}, "
            f"canceled {totals['canceled']}."
        )
        if left:
            summary += f" {left} are still stale: run it again."
        self.stdout.write(summary)
