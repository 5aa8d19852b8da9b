import datetime
import json
import math
import os
import sys
import unicodedata

import redis
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from rest_framework.fields import DateTimeField

from core.validators import UNPRINTABLE_CATEGORIES

# A command whose work another process has in hand exits with this rather than 1: sysexits'
# EX_TEMPFAIL, "nothing was done; running it again later may do it". Cron and monitoring can tell
# such a skip from a failure.
EXIT_SKIPPED = 75


class OperatorCommand(BaseCommand):
    """A command of the project's. Redis out of reach ends it with one line saying so, not a
    traceback: the commands that need it either change nothing before it answers or, like
    delete_tenant, finish when run again. Output piped into a reader that stops early (`| head`)
    ends it quietly."""

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except BrokenPipeError:
            # Its reader went away (`| head`): stop quietly, as any Unix tool does.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except redis.RedisError as exc:
            raise CommandError(
                f"Redis did not answer ({exc}); this command needs it. Run it again once it does."
            ) from exc

    @staticmethod
    def confirmation_argument(parser) -> None:
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation.",
        )

    def confirm(self, question: str, *, refused: str) -> None:
        """Ask on the terminal; any answer but 'yes' ends the command, saying `refused`."""
        try:
            answer = input(f"{question} Type 'yes' to go on: ")
        except EOFError:
            raise CommandError(
                f"No terminal to confirm on (cron, `docker compose exec -T`): pass --no-input. "
                f"{refused}"
            ) from None
        if answer != "yes":
            raise CommandError(refused)


def local_time(value: datetime.datetime, format: str = "%Y-%m-%d %H:%M") -> str:
    """A time as the commands print it: in TIME_ZONE, naming it (`2026-12-07 19:05 CET`), as the
    admin shows it."""
    return timezone.localtime(value).strftime(f"{format} %Z")


def json_dumped(document) -> str:
    """A command's --json output: times as the API writes them (ISO 8601, in TIME_ZONE, `Z` for
    UTC); ids, decimals and the rest as their text."""

    def value(item):
        if isinstance(item, datetime.datetime):
            return DateTimeField().to_representation(item)
        if isinstance(item, datetime.date):
            return item.isoformat()
        return str(item)

    return json.dumps(document, default=value)


def field_checked(model, field_name: str, value, label: str):
    """`value` for the model's field, checked by the field's own validators (its length, its
    format): a CommandError saying what is wrong, rather than a database error."""
    try:
        model._meta.get_field(field_name).run_validators(value)
    except ValidationError as exc:
        raise CommandError(f"{label}: {exc.messages[0]}") from exc
    return value


def number_checked(value: float, low: float, high: float, label: str, unit: str) -> float:
    """A number given as `label`, from `low` to `high` `unit`, or a CommandError saying so: checked
    here rather than by an argparse type, whose refusal prints the whole usage and exits 2."""
    if not (math.isfinite(value) and low <= value <= high):
        raise CommandError(f"{label} {value:g} is not a number of {unit} from {low:g} to {high:g}.")
    return value


def printable(text: str) -> str:
    """Text a workspace wrote, for an operator's terminal: its control and invisible characters
    (an escape sequence, a line break, a bidi override) shown as escapes, never acted on."""
    return "".join(
        char.encode("unicode_escape").decode()
        if unicodedata.category(char) in UNPRINTABLE_CATEGORIES
        else char
        for char in text
    )
