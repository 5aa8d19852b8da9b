"""History written before JobEvent.actor named the platform's operators (manage.py user@host,
staff logins) in the messages the workspace reads: move the name to `actor` and say "an
operator" there instead. The workspace's own API keys and members stay named."""

from django.conf import settings
from django.db import migrations

PREFIXES = {"canceled": "CANCELED: Canceled by ", "requeued": "Requeued by "}
BATCH = 1000


def operators_unnamed(apps, schema_editor):
    JobEvent = apps.get_model("jobs", "JobEvent")
    Membership = apps.get_model("accounts", "Membership")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    usernames = set(User.objects.values_list("username", flat=True))
    members = set(Membership.objects.values_list("user__username", "tenant_id"))

    def of_the_platform(who: str, tenant_id: int) -> bool:
        if who.startswith("manage.py ("):
            return True
        return who in usernames and (who, tenant_id) not in members

    for kind, prefix in PREFIXES.items():
        unnamed = {}
        events = JobEvent.objects.filter(kind=kind, message__startswith=prefix, actor="")
        for pk, message, tenant_id in events.values_list("pk", "message", "job__tenant_id"):
            who = message.removeprefix(prefix).removesuffix(".")
            if of_the_platform(who, tenant_id):
                unnamed.setdefault(who, []).append(pk)
        for who, pks in unnamed.items():
            for start in range(0, len(pks), BATCH):
                JobEvent.objects.filter(pk__in=pks[start : start + BATCH]).update(
                    message=f"{prefix}an operator.", actor=who
                )


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_initial'),
        ('jobs', '0005_jobevent_actor'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(operators_unnamed, migrations.RunPython.noop),
    ]
