from django.db import transaction

from accounts.models import AuditEvent
from accounts.services import audit_record, audit_values


class AuditedMixin:
    """Every create, change and delete through the view is an audit event naming the caller, with
    the fields a client may write (a change: those it changed, before and after). A view whose
    deletes go through a service that audits them overrides perform_destroy.

    A change or delete locks the row before it is checked: a concurrent one has either committed
    (and is what the checks and the event's "before" see) or waits for it."""

    LOCKING_ACTIONS = ("update", "partial_update", "destroy")

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action in self.LOCKING_ACTIONS:
            queryset = queryset.select_for_update(of=("self",))
        return queryset

    def update(self, request, *args, **kwargs):
        with transaction.atomic():
            return super().update(request, *args, **kwargs)

    def destroy(self, request, *args, **kwargs):
        with transaction.atomic():
            return super().destroy(request, *args, **kwargs)

    def perform_create(self, serializer):
        with transaction.atomic():
            super().perform_create(serializer)
            self._audit(
                serializer.instance, AuditEvent.Action.CREATE, new=self._values(serializer.instance)
            )

    def perform_update(self, serializer):
        old = self._values(serializer.instance)
        with transaction.atomic():
            super().perform_update(serializer)
            new = self._values(serializer.instance)
            changed = [name for name in new if new[name] != old[name]]
            if changed:
                self._audit(
                    serializer.instance,
                    AuditEvent.Action.UPDATE,
                    old={name: old[name] for name in changed},
                    new={name: new[name] for name in changed},
                )

    def perform_destroy(self, instance):
        old, pk = self._values(instance), instance.pk
        with transaction.atomic():
            super().perform_destroy(instance)
            self._audit(
                pk, AuditEvent.Action.DELETE, old=old, resource_type=instance._meta.label_lower
            )

    def _values(self, instance) -> dict:
        """The row's client-writable fields, as JSON (decimals and dates as text)."""
        writable = {
            field.source for field in self.get_serializer().fields.values() if not field.read_only
        }
        return audit_values(instance, writable)

    def _audit(self, resource, action: str, **values) -> None:
        audit_record(
            tenant=self.tenant,
            resource=resource,
            action=action,
            actor=self.request.user.actor,
            **values,
        )
