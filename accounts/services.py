import functools
import getpass
import json
import logging
import secrets
import socket
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.cache import cache
from django.core.mail import EmailMessage, get_connection
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, transaction
from django.db.models import CASCADE, PROTECT, RESTRICT, F, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.text import Truncator
from rest_framework.fields import DateTimeField

from accounts import keycache
from accounts.models import (
    KEY_PREFIX_LENGTH,
    ApiKey,
    AuditEvent,
    CreditEntry,
    Membership,
    Notification,
    Tenant,
    api_key_hash,
)
from core.deletion import delete_in_batches, workspace_deletion
from core.errors import Conflict, InsufficientCredits, InvalidRequest, Unauthorized
from core.metrics import ALERTS_CREATED, metric_inc

logger = logging.getLogger(__name__)

API_KEY_SCHEME = "ofl_"
# last_used_at is a hint, not a log: write it at most once a minute per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)
API_KEY_CACHE_SALT = "accounts.api-key-cache"


@transaction.atomic
def tenant_create(*, slug: str, name: str, admin_email: str | None = None) -> Tenant:
    tenant = Tenant.objects.create(slug=slug, name=name)
    if admin_email:
        user = user_get_or_create(email=admin_email)
        Membership.objects.create(tenant=tenant, user=user, role=Membership.Role.ADMIN)
    return tenant


def user_get_or_create(*, email: str):
    """The user with this email address, or a new one named by it. Conflict when that name is
    another user's (whose address differs): that account is not theirs to be given."""
    User = get_user_model()
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        return user
    if User.objects.filter(username=email.lower()).exists():
        raise Conflict(f"The user named {email.lower()!r} has another email address.")
    return User.objects.create_user(username=email.lower(), email=email)


@transaction.atomic
def api_key_create(
    *,
    tenant: Tenant,
    name: str = "",
    role: str = Membership.Role.MEMBER,
    expires_in_days: int | None = None,
    created_by=None,
    actor=None,
    rate_limit_per_minute: int | None = None,
    rate_limit_per_day: int | None = None,
    expires_by: datetime | None = None,
    created_by_key: ApiKey | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is never stored and never shown again.
    The audit log names `actor` (the API key or user that asked; by default `created_by`). A key
    that would expire after `expires_by`, or never, is refused (InvalidRequest). A key made by
    `created_by_key` is revoked with it."""
    if created_by_key is not None:
        _api_key_maker_lock(created_by_key, tenant=tenant)
    plaintext = API_KEY_SCHEME + secrets.token_urlsafe(32)
    while plaintext[len(API_KEY_SCHEME)] == "-":
        # Its prefix, given to revoke_api_key, would be read as an option.
        plaintext = API_KEY_SCHEME + secrets.token_urlsafe(32)
    now = timezone.now()
    expires_at = now + timedelta(days=expires_in_days) if expires_in_days else None
    if expires_by is not None and (expires_at is None or expires_at > expires_by):
        raise InvalidRequest(errors={"expires_in_days": [_api_key_outlives(expires_by, now)]})
    api_key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        role=role,
        prefix=plaintext[len(API_KEY_SCHEME) : len(API_KEY_SCHEME) + KEY_PREFIX_LENGTH],
        key_hash=api_key_hash(plaintext),
        expires_at=expires_at,
        created_by=created_by,
        created_by_key=created_by_key,
        rate_limit_per_minute=rate_limit_per_minute,
        rate_limit_per_day=rate_limit_per_day,
    )
    audit_record(
        tenant=tenant,
        resource=api_key,
        action=AuditEvent.Action.CREATE,
        actor=actor or created_by,
        new={
            "name": name,
            "role": role,
            "prefix": api_key.prefix,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "rate_limit_per_minute": rate_limit_per_minute,
            "rate_limit_per_day": rate_limit_per_day,
        },
    )
    return api_key, plaintext


def _api_key_maker_lock(maker: ApiKey, *, tenant: Tenant) -> None:
    """Lock the key making another until that one commits: a revocation of the maker waits for
    it, then revokes it too. One revoked first makes none."""
    if maker.tenant_id != tenant.pk:
        raise ValueError("A key makes keys only in its own workspace.")
    locked = ApiKey.objects.select_for_update(no_key=True).get(pk=maker.pk)
    if locked.revoked_at is not None:
        raise Unauthorized("The API key was revoked while this request ran.")


def _api_key_outlives(expires_by: datetime, now: datetime) -> str:
    """Why a key asked of an expiring key is refused, and what it may ask instead."""
    reason = (
        f"The key creating it expires at {DateTimeField().to_representation(expires_by)} (its "
        "expires_at), and a key it creates may not outlive it: "
    )
    days = (expires_by - now) // timedelta(days=1)
    if days < 1:
        return reason + "less than a day is left, so it can create no key."
    return reason + f"give expires_in_days of at most {days}."


def api_key_authenticate(
    plaintext: str,
    *,
    look_up: Callable[[Callable[[], ApiKey | None]], ApiKey | None] | None = None,
) -> ApiKey | None:
    """The usable key matching `plaintext`, or None. Every request of a client presents the same
    key, so the key and its tenant are cached under the key's hash (never the plaintext) for
    API_KEY_CACHE_SECONDS; saving a key or its tenant drops the entry (accounts.signals), so a
    revoked key or deactivated workspace is refused at once. A key found in no cache is looked up
    in the database (what a guessed key costs) through `look_up`, when given: it runs the
    look-up, which returns the usable key or None, and may refuse to by raising."""
    if not plaintext.startswith(API_KEY_SCHEME) or len(plaintext) > 200:
        return None
    key_hash = api_key_hash(plaintext)
    api_key = keycache.local_get(key_hash)
    if api_key is None:
        read_at = keycache.generation()
        api_key = _api_key_cache_read(cache.get(api_key_cache_key(key_hash)), key_hash)
        if api_key is None:
            find = functools.partial(_api_key_look_up, plaintext)
            api_key = look_up(find) if look_up is not None else find()
            if api_key is None:
                return None
        keycache.local_set(key_hash, api_key, read_at)
    if not api_key.is_usable or not api_key.tenant.is_active:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        # Only a key still usable is touched: the UPDATE waits for a transaction revoking or
        # expiring it, then sees its outcome, and a copy read before must not be cached again.
        touched = (
            ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            .update(last_used_at=now)
        )
        if not touched:
            api_keys_uncache([key_hash])
            return None
        api_key.last_used_at = now
        api_key = _api_key_cache_set(api_key)
        if api_key is None or not api_key.is_usable or not api_key.tenant.is_active:
            return None
    return api_key


def _api_key_look_up(plaintext: str) -> ApiKey | None:
    """The usable key matching `plaintext` in the database, shared with every process, or None."""
    prefix = plaintext[len(API_KEY_SCHEME) : len(API_KEY_SCHEME) + KEY_PREFIX_LENGTH]
    api_key = ApiKey.objects.select_related("tenant").filter(prefix=prefix).first()
    if api_key is None or not api_key.matches(plaintext):
        return None
    api_key = _api_key_cache_set(api_key)
    if api_key is None or not api_key.is_usable or not api_key.tenant.is_active:
        return None
    return api_key


def api_key_cache_key(key_hash: str) -> str:
    return f"api-key-json:{key_hash}"


def _api_key_pickled_cache_key(key_hash: str) -> str:
    """Where releases before the cache kept JSON keep their (pickled) copy of a key: dropped with
    this release's, for their web processes still running beside this release's (a rolling
    upgrade), which never read each other's copies."""
    return f"api-key:{key_hash}"


def _api_key_cache_set(api_key: ApiKey) -> ApiKey | None:
    """Share the key (and its tenant) with every process, then read it again: a change that
    committed after `api_key` was read dropped the cache before this wrote it, so a copy found
    stale is dropped again and the row as it is now used instead. None when the key is gone."""
    if settings.API_KEY_CACHE_SECONDS <= 0:
        return api_key
    cache.set(
        api_key_cache_key(api_key.key_hash),
        _api_key_cache_value(api_key),
        settings.API_KEY_CACHE_SECONDS,
    )
    now = ApiKey.objects.select_related("tenant").filter(pk=api_key.pk).first()
    if now is None or _api_key_state(now) != _api_key_state(api_key):
        api_keys_uncache([api_key.key_hash])
    return now


def _api_key_cache_value(api_key: ApiKey) -> str:
    """The key and its tenant as the shared cache keeps them: their rows in JSON, signed, so that
    what is read back is what the product wrote (whoever can write to Redis could otherwise plant
    a key of any workspace)."""
    rows = {"api_key": _row_json(api_key), "tenant": _row_json(api_key.tenant)}
    return signing.dumps(rows, salt=API_KEY_CACHE_SALT)


def _api_key_cache_read(value, key_hash: str) -> ApiKey | None:
    """The key the shared cache keeps under `key_hash`, or None when it keeps none the product
    wrote for that key (or one a release with other fields wrote)."""
    if not isinstance(value, str):
        return None
    try:
        rows = signing.loads(value, salt=API_KEY_CACHE_SALT)
        api_key = _row_from_json(ApiKey, rows["api_key"])
        api_key.tenant = _row_from_json(Tenant, rows["tenant"])
    except (signing.BadSignature, KeyError):
        return None
    # Signed, yet maybe another key's copy, planted under this key's hash.
    return api_key if api_key.key_hash == key_hash else None


def _row_json(instance) -> dict:
    """A row's stored values by column, in JSON (times in ISO 8601, to the microsecond)."""
    values = {}
    for model_field in instance._meta.concrete_fields:
        value = model_field.value_from_object(instance)
        values[model_field.attname] = value.isoformat() if isinstance(value, datetime) else value
    return values


def _row_from_json(model, values: dict):
    """The row _row_json gave, as if read from the database."""
    fields = model._meta.concrete_fields
    return model.from_db(
        DEFAULT_DB_ALIAS,
        [model_field.attname for model_field in fields],
        [model_field.to_python(values[model_field.attname]) for model_field in fields],
    )


def _api_key_state(api_key: ApiKey) -> tuple:
    """What a request's authentication and authorization read of a key and its tenant."""
    return (
        api_key.revoked_at,
        api_key.expires_at,
        api_key.role,
        api_key.rate_limit_per_minute,
        api_key.rate_limit_per_day,
        api_key.tenant.is_active,
    )


def api_keys_uncache(key_hashes: list[str]) -> None:
    """Forget cached keys, in the shared cache and in every process, so that the next request
    reads them (and their tenant) afresh."""
    cache.delete_many(
        [api_key_cache_key(key_hash) for key_hash in key_hashes]
        + [_api_key_pickled_cache_key(key_hash) for key_hash in key_hashes]
    )
    keycache.announce(key_hashes)


def api_keys_uncache_with_change(key_hashes: list[str]) -> None:
    """Forget cached keys changed in the transaction under way: at once, and again when it
    commits, so that a request that read the old rows meanwhile cannot keep them."""
    # At once, inside the change's transaction: Redis out of reach rolls the change back. After
    # the commit only the race above is left to close, and a failure there is logged.
    api_keys_uncache(key_hashes)
    transaction.on_commit(functools.partial(api_keys_uncache, key_hashes), robust=True)


def api_keys_named(text: str) -> Q:
    """The keys a pasted text names: a whole key by its hash (only that is stored), as the API
    finds it; its prefix, with or without the scheme (`ofl_abcd1234`, as logs and lists show a
    key), by its prefix."""
    text = text.strip()
    rest = text.removeprefix(API_KEY_SCHEME)
    if len(rest) <= KEY_PREFIX_LENGTH:
        return Q(prefix=rest)
    return Q(key_hash=api_key_hash(text))


def api_key_revoke(*, api_key: ApiKey, actor=None) -> int:
    """Revoke the key and the keys it made, and theirs, however far down (after a leak, what the
    leaked key made is the attacker's too; so even when the key had expired or was revoked
    already), each with its audit event, in one transaction: when their cached copies cannot be
    dropped (Redis out of reach), nothing is revoked and the error says why. Returns how many keys
    made by it were revoked with it."""
    revoked_with = 0
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            audit_record(
                tenant=api_key.tenant,
                resource=locked,
                action=AuditEvent.Action.DEACTIVATE,
                actor=actor,
                new={"revoked_at": locked.revoked_at.isoformat()},
            )
        makers = [locked.pk]
        while makers:
            made = list(
                ApiKey.objects.select_for_update()
                .filter(tenant=locked.tenant_id, created_by_key__in=makers)
                .order_by("pk")
            )
            revoked_with += _api_keys_made_revoke(made, maker=locked, actor=actor)
            makers = [key.pk for key in made]
    api_key.revoked_at = locked.revoked_at
    return revoked_with


def _api_keys_made_revoke(keys: list[ApiKey], *, maker: ApiKey, actor) -> int:
    """Revoke the keys (locked for update) made by `maker`'s keys that are still usable, in a few
    statements however many they are (a leaked key may have made thousands), audited and
    uncached; returns how many."""
    usable = [key for key in keys if key.revoked_at is None]
    if not usable:
        return 0
    revoked_at = timezone.now()
    ApiKey.objects.filter(pk__in=[key.pk for key in usable]).update(revoked_at=revoked_at)
    AuditEvent.objects.bulk_create(
        audit_event(
            tenant=maker.tenant,
            resource=key,
            action=AuditEvent.Action.DEACTIVATE,
            actor=actor,
            new={"revoked_at": revoked_at.isoformat()},
            metadata={"revoked_with_key": maker.pk},
        )
        for key in usable
    )
    # An update saves no key: its cached copies are dropped here, as a key saved drops its own.
    api_keys_uncache_with_change([key.key_hash for key in usable])
    return len(usable)


def credits_debit(*, tenant: Tenant, amount: int, reason: str, job=None) -> CreditEntry | None:
    """Take `amount` credits, or raise InsufficientCredits; the balance never goes below zero."""
    if amount <= 0:
        return None
    with transaction.atomic():
        # One conditional UPDATE: concurrent debits serialise on the row and none can overdraw.
        taken = Tenant.objects.filter(pk=tenant.pk, credit_balance__gte=amount).update(
            credit_balance=F("credit_balance") - amount
        )
        if taken != 1:
            credits = "credit" if amount == 1 else "credits"
            raise InsufficientCredits(f"This costs {amount} {credits}; the balance is too low.")
        return _ledger_write(tenant, CreditEntry.Kind.DEBIT, -amount, reason, job=job)


def credits_refund(*, tenant: Tenant, job, reason: str) -> CreditEntry | None:
    """Give back the job's latest charge not refunded yet: once per charge, so a job charged again
    when requeued is refunded again when it ends again. None when there is nothing to give back."""
    charge = (
        CreditEntry.objects.filter(job=job, kind=CreditEntry.Kind.DEBIT, refund__isnull=True)
        .order_by("-id")
        .first()
    )
    if charge is None:
        return None
    amount = -charge.amount
    try:
        with transaction.atomic():
            Tenant.objects.filter(pk=tenant.pk).update(credit_balance=F("credit_balance") + amount)
            return _ledger_write(
                tenant, CreditEntry.Kind.REFUND, amount, reason, job=job, refund_of=charge
            )
    except IntegrityError:
        # A racing refund gave this charge back first (refund_of is unique).
        return None


def credits_grant_refusal(*, tenant: Tenant, amount: int) -> str | None:
    """Why the workspace's balance cannot take `amount` more credits (its column's ceiling), or
    None."""
    _, most = connection.ops.integer_field_range("PositiveIntegerField")
    if amount > most - tenant.credit_balance:
        return (
            f"A balance above {most:,} credits cannot be kept; {tenant.slug} has "
            f"{tenant.credit_balance:,}."
        )
    return None


@transaction.atomic
def credits_grant(*, tenant: Tenant, amount: int, reason: str, created_by=None) -> CreditEntry:
    Tenant.objects.filter(pk=tenant.pk).update(credit_balance=F("credit_balance") + amount)
    return _ledger_write(tenant, CreditEntry.Kind.GRANT, amount, reason, created_by=created_by)


def _ledger_write(tenant, kind, amount, reason, **extra) -> CreditEntry:
    balance = Tenant.objects.values_list("credit_balance", flat=True).get(pk=tenant.pk)
    tenant.credit_balance = balance
    return CreditEntry.objects.create(
        tenant=tenant, kind=kind, amount=amount, balance_after=balance, reason=reason, **extra
    )


@dataclass(frozen=True)
class Operator:
    """Someone running a management command: who, on which machine, as the shell says."""

    label: str

    def __str__(self):
        return self.label


def operator_at_command_line() -> Operator:
    return Operator(f"manage.py ({getpass.getuser()}@{socket.gethostname()})")


def audit_actor_fields(actor) -> dict:
    """Who an audit event names: an operator, the worker (None), an API key or a user."""
    if isinstance(actor, Operator):
        return {
            "actor_type": AuditEvent.ActorType.OPERATOR,
            "actor_id": "",
            "actor_label": str(actor),
        }
    if actor is None:
        return {"actor_type": AuditEvent.ActorType.WORKER, "actor_id": "", "actor_label": "worker"}
    if isinstance(actor, ApiKey):
        return {
            "actor_type": AuditEvent.ActorType.API_KEY,
            "actor_id": str(actor.pk),
            "actor_label": str(actor),
        }
    return {
        "actor_type": AuditEvent.ActorType.USER,
        "actor_id": str(actor.pk),
        "actor_label": actor.get_username(),
    }


def audit_record(**fields) -> AuditEvent:
    """Append an audit event, given as audit_event takes it."""
    event = audit_event(**fields)
    event.save(force_insert=True)
    return event


def audit_event(
    *,
    tenant: Tenant | None,
    resource,
    action: str,
    actor=None,
    old: dict | None = None,
    new: dict | None = None,
    metadata: dict | None = None,
    resource_type: str | None = None,
) -> AuditEvent:
    """An audit event as audit_record appends it, not saved yet: for a bulk_create of many.
    `resource` is a model instance, or an id with `resource_type`."""
    resource_id = getattr(resource, "pk", resource)
    resource_type = resource_type or resource._meta.label_lower
    changed = sorted(
        k for k in set(old or {}) | set(new or {}) if (old or {}).get(k) != (new or {}).get(k)
    )
    return AuditEvent(
        tenant=tenant,
        resource_type=resource_type,
        resource_id=str(resource_id),
        action=action,
        old_values=old,
        new_values=new,
        changed_fields=changed,
        metadata=metadata or {},
        **audit_actor_fields(actor),
    )


def audit_values(instance, names) -> dict:
    """The instance's fields among `names` as an audit event keeps them: JSON, relations by id,
    decimals and dates as text."""
    values = {
        field.attname: getattr(instance, field.attname)
        for field in instance._meta.concrete_fields
        if field.name in names
    }
    return json.loads(json.dumps(values, cls=DjangoJSONEncoder))


def tenant_active_set(*, tenant: Tenant, active: bool, actor=None) -> bool:
    """Activate or deactivate a workspace (a deactivated one's keys stop at once, in every
    process), audited in its own log. False when it already was so."""
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if locked.is_active == active:
            return False
        locked.is_active = active
        locked.save(update_fields=["is_active"])
        audit_record(
            tenant=locked,
            resource=locked,
            action=AuditEvent.Action.UPDATE if active else AuditEvent.Action.DEACTIVATE,
            actor=actor,
            old={"is_active": not active},
            new={"is_active": active},
        )
    tenant.is_active = active
    return True


def tenant_delete(
    *, tenant: Tenant, progress_for: Callable[[str, int], Callable[[int], object]] | None = None
) -> dict[str, int]:
    """Delete a workspace with everything it holds, a batch at a time, so that one of any size
    can go; deactivated first, so its keys stop working at once. Interrupted, calling it again
    finishes. Returns how many rows went, by kind, named as counted ("1 invoice", "3 jobs"; those
    with none left out); `progress_for(kind, total)` gives each kind's progress callback."""
    with transaction.atomic():
        # Its keys are dropped from every cache within the transaction: when they cannot be
        # (Redis out of reach), the workspace stays as it was.
        tenant.is_active = False
        tenant.save(update_fields=["is_active"])
    deleted = {}
    with workspace_deletion(tenant.pk):
        for rows in tenant_rows(tenant):
            kind = str(rows.model._meta.verbose_name_plural)
            progress = progress_for(kind, rows.count()) if progress_for else None
            if count := delete_in_batches(rows, progress=progress):
                opts = rows.model._meta
                deleted[str(opts.verbose_name if count == 1 else opts.verbose_name_plural)] = count
    tenant.delete()
    return deleted


def tenant_rows(tenant: Tenant) -> list[QuerySet]:
    """The workspace's rows of every model that has some, those another protects (a client by
    its invoices, a project by its entries) after the protecting ones: a batch of them alone would
    be refused while those still point at it."""

    def protected(rel) -> bool:
        return any(
            r.on_delete in (PROTECT, RESTRICT) for r in _reverse_relations(rel.related_model)
        )

    return [
        rel.related_model._base_manager.filter(**{rel.field.name: tenant})
        for rel in sorted(_reverse_relations(Tenant), key=protected)
    ]


def _reverse_relations(model) -> list:
    return [rel for rel in model._meta.get_fields(include_hidden=True) if rel.one_to_many]


def tenants_own_more_than(tenants, limit: int) -> bool:
    """Whether the workspaces' rows, with those that go with them (a share link's views, a job's
    events, an invoice's lines), are more than `limit` together: each kind counted up to what is
    left of it, so that this reads at most `limit` + 1 index entries however large they are."""
    left = limit + 1
    for tenant in tenants:
        owned = tenant_rows(tenant)
        # A kind with a workspace of its own is counted once, by it, not again below another.
        counted = {Tenant, *(rows.model for rows in owned)}
        theirs = (cascaded for rows in owned for cascaded in _cascaded(rows, counted))
        for kind in [*owned, *theirs]:
            left -= kind.order_by()[:left].count()
            if left <= 0:
                return True
    return False


def _cascaded(rows: QuerySet, counted: set) -> Iterator[QuerySet]:
    """The rows deleted with `rows` (and with those, and so on) of the kinds not in `counted`."""
    for rel in _reverse_relations(rows.model):
        if rel.on_delete is not CASCADE or rel.related_model in counted:
            continue
        theirs = rel.related_model._base_manager.filter(
            **{f"{rel.field.name}__in": rows.order_by().values("pk")}
        )
        yield theirs
        yield from _cascaded(theirs, counted | {rel.related_model})


def tenant_admins(tenant: Tenant | None):
    User = get_user_model()
    if tenant is None:
        staff = User.objects.filter(is_active=True, is_staff=True)
        if settings.PLATFORM_ALERT_EMAILS:
            # As written in the setting: spaces around an address, any case.
            emails = {
                email.strip().lower() for email in settings.PLATFORM_ALERT_EMAILS if email.strip()
            }
            if emails:
                return staff.annotate(email_lower=Lower("email")).filter(email_lower__in=emails)
        return staff.filter(is_superuser=True)
    return User.objects.filter(
        is_active=True, memberships__tenant=tenant, memberships__role=Membership.Role.ADMIN
    )


NOTIFICATION_TITLE_MAX_LENGTH = Notification._meta.get_field("title").max_length


def notification_title(text: str) -> str:
    """`text` as a notification title, which is also an email subject: one line (line breaks and
    other control characters become spaces; a mail backend refuses a subject that spans lines),
    cut with an ellipsis to fit the title's column."""
    spaced = "".join(" " if unicodedata.category(char) == "Cc" else char for char in text)
    return Truncator(" ".join(spaced.split())).chars(NOTIFICATION_TITLE_MAX_LENGTH)


def notify_admins(
    *,
    tenant: Tenant | None,
    kind: str,
    title: str,
    payload: dict | None = None,
    alert_key: str = "",
) -> list[Notification]:
    """Notify each admin in-app and by email. With an `alert_key`, an admin who still has that
    alert open is not notified again. Without a tenant, the platform staff are notified."""
    title = notification_title(title)
    created = []
    admins = list(tenant_admins(tenant))
    if tenant is None and not admins:
        # No one to tell is itself worth a line in the log, which someone reads.
        logger.error(
            "Platform alert %r reached no one: PLATFORM_ALERT_EMAILS names no active staff user "
            "(or, unset, there is no active superuser).",
            title,
        )
    for user in admins:
        try:
            with transaction.atomic():
                created.append(
                    Notification.objects.create(
                        tenant=tenant,
                        user=user,
                        kind=kind,
                        alert_key=alert_key,
                        title=title,
                        payload=payload or {},
                    )
                )
        except IntegrityError:
            continue
    if created:
        metric_inc(ALERTS_CREATED, kind=kind)
    recipients = [n.user.email for n in created if n.user.email]
    if recipients:
        body = "\n".join(f"{key}: {value}" for key, value in (payload or {}).items())
        _alert_email_on_commit(f"[Offload] {title}", body, recipients)
    return created


def _alert_email_on_commit(subject: str, body: str, recipients: list[str]) -> None:
    """Email an alert once the notifications are committed, each admin their own message (none
    sees who else was told) over one connection. A mail failure (a server that is down, a refused
    address) is logged: the in-app notifications stand, the other admins are still emailed, and
    the caller goes on to notify others."""

    def send():
        try:
            with get_connection() as connection:
                for recipient in recipients:
                    try:
                        EmailMessage(subject, body, to=[recipient], connection=connection).send()
                    except Exception:  # noqa: BLE001 - one refused address stops no other
                        logger.exception("Could not email the alert %r to an admin.", subject)
        except Exception:  # noqa: BLE001 - no mail failure may stop the notifying of others
            logger.exception("Could not email the alert %r to %d admins.", subject, len(recipients))

    transaction.on_commit(send)


def notification_resolve(*, tenant: Tenant | None, alert_key: str) -> int:
    """Close an open alert, so that it is sent again if it happens again."""
    return Notification.objects.filter(
        tenant=tenant, alert_key=alert_key, resolved_at__isnull=True
    ).update(resolved_at=timezone.now())


def notification_resolve_elsewhere(*, alert_key: str, still_open: list[Tenant | None]) -> int:
    """Close an alert everywhere but where it still holds: the workspaces in `still_open` (None
    stands for the platform staff)."""
    holds = Q(tenant__in=[tenant for tenant in still_open if tenant is not None])
    if None in still_open:
        holds |= Q(tenant__isnull=True)
    return (
        Notification.objects.filter(alert_key=alert_key, resolved_at__isnull=True)
        .exclude(holds)
        .update(resolved_at=timezone.now())
    )


def notifications_mark_read(*, notifications: QuerySet, user) -> int:
    """Mark read those of `notifications` addressed to `user` and still unread; how many."""
    return notifications.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())


def notifications_resolve(*, alert_keys: list[str]) -> int:
    """Close many open alerts at once."""
    return Notification.objects.filter(alert_key__in=alert_keys, resolved_at__isnull=True).update(
        resolved_at=timezone.now()
    )


@dataclass(frozen=True)
class Alert:
    title: str
    alert_key: str
    payload: dict = field(default_factory=dict)


def notify_admins_of_new_alerts(*, tenant: Tenant, kind: str, alerts: list[Alert]) -> int:
    """Notify each admin of many alerts that were just raised (their keys are new, so none can be
    open already): one in-app notification per alert and admin, and one digest email per admin."""
    admins = list(tenant_admins(tenant))
    if not alerts or not admins:
        return 0
    titles = [notification_title(alert.title) for alert in alerts]
    Notification.objects.bulk_create(
        [
            Notification(
                tenant=tenant,
                user=user,
                kind=kind,
                alert_key=alert.alert_key,
                title=title,
                payload=alert.payload,
            )
            for alert, title in zip(alerts, titles, strict=True)
            for user in admins
        ],
        batch_size=1000,
    )
    metric_inc(ALERTS_CREATED, len(alerts), kind=kind)
    recipients = [user.email for user in admins if user.email]
    if recipients:
        subject = (
            f"[Offload] {titles[0]}" if len(alerts) == 1 else f"[Offload] {len(alerts)} new alerts"
        )
        _alert_email_on_commit(subject, "\n".join(titles), recipients)
    return len(alerts) * len(admins)
