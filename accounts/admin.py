import functools
from collections import Counter, defaultdict
from datetime import timedelta

from axes.admin import AccessAttemptAdmin
from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt, AccessFailureLog
from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin import actions as admin_actions
from django.contrib.admin.utils import NestedObjects, flatten_fieldsets, quote
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.paginator import Paginator
from django.db import connection, router, transaction
from django.db.models import Q, QuerySet
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst, smart_split, unescape_string_literal

from accounts.models import (
    API_KEY_MAX_DAYS,
    ApiKey,
    AuditEvent,
    CreditEntry,
    Membership,
    Notification,
    Tenant,
)
from accounts.services import (
    API_KEY_SCHEME,
    api_key_create,
    api_key_revoke,
    api_keys_named,
    audit_record,
    audit_values,
    credits_grant,
    credits_grant_refusal,
    notifications_mark_read,
    tenant_active_set,
    tenants_own_more_than,
)
from core.deletion import deletion_by
from core.errors import records_counted
from core.queries import column_values
from jobs.services import tenant_jobs_stop

# An action runs inside the request, which gunicorn gives up on after 30 s; at about 10 ms an
# object, this many leave room for a busy database. More go through the management commands.
ACTION_MAX_OBJECTS = 500
# A deletion's confirmation page names each object it takes, but more than this many of one kind
# (a job's events, a workspace's ledger) are one line giving their number.
DELETION_LISTED_PER_MODEL = 100
# The most rows one deletion here takes, cascades included: it must finish within the request.
DELETION_MAX_ROWS = 20_000


def selection_too_big(request, queryset, *, command: str = "") -> bool:
    """Whether more than ACTION_MAX_OBJECTS are selected for an action; if so, the staff user is
    told that nothing was changed, and how to narrow the list (or which command does it)."""
    selected = queryset.count()
    if selected <= ACTION_MAX_OBJECTS:
        return False
    elsewhere = f", or from a shell run {command}" if command else ""
    messages.error(
        request,
        f"{selected:,} {queryset.model._meta.verbose_name_plural} are selected: an action here "
        f"changes at most {ACTION_MAX_OBJECTS} at once, so none was changed. Narrow the list "
        f"with its filters{elsewhere}.",
    )
    return True


@admin.action(
    permissions=["delete"],
    description=admin_actions.delete_selected.short_description,
)
def delete_selected(modeladmin, request, queryset):
    """Django's own action, for at most ACTION_MAX_OBJECTS: its confirmation page lists every row
    it would delete, cascades included, and deletes them all in the one request."""
    if selection_too_big(request, queryset):
        return None
    return admin_actions.delete_selected(modeladmin, request, queryset)


admin.site.add_action(delete_selected)


def deleted_objects(objs, request, admin_site, *, elsewhere: str = ""):
    """What Django's admin shows before a deletion (the objects it takes, their counts, the kinds
    the user may not delete, what protects them), for a page that stays quick and readable however
    much goes: a kind with more than DELETION_LISTED_PER_MODEL objects is one line giving their
    number rather than one line (and a query for its label) each, and a deletion of more than
    DELETION_MAX_ROWS rows is refused, saying what to do `elsewhere`."""
    if not objs:
        return [], {}, set(), []
    collector = NestedObjects(using=router.db_for_write(objs[0]._meta.model), origin=objs)
    collector.collect(objs)
    counts = {model: len(rows) for model, rows in collector.model_objs.items()}
    counted = {model for model, count in counts.items() if count > DELETION_LISTED_PER_MODEL}
    # The kind's permission (obj=None), not each object's: a rule for some objects of a kind (a
    # sent invoice is voided, not deleted) holds for deleting them on their own, and their admin
    # refuses that saying why (get_deleted_objects); they still go with their workspace. What
    # protects the deletion is not deleted, and needs no permission.
    perms_needed = {
        model._meta.verbose_name
        for model in counts
        if admin_site.is_registered(model)
        and not admin_site.get_model_admin(model).has_delete_permission(request)
    }

    def label(obj):
        opts = obj._meta
        if not admin_site.is_registered(type(obj)):
            return f"{capfirst(opts.verbose_name)}: {obj}"
        try:
            url = reverse(
                f"{admin_site.name}:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)]
            )
        except NoReverseMatch:
            return f"{capfirst(opts.verbose_name)}: {obj}"
        return format_html('{}: <a href="{}">{}</a>', capfirst(opts.verbose_name), url, obj)

    nested = collector.nested(lambda obj: type(obj) if type(obj) in counted else label(obj))
    protected = _listed_within(collector.protected, label)
    if protected:
        # As the API words it (a 409).
        subject, them = ("It", "it") if len(objs) == 1 else ("They", "them")
        protected.insert(
            0,
            f"{subject} cannot be deleted while other records refer to {them} "
            f"({records_counted(collector.protected)}).",
        )
    total = sum(counts.values())
    if total > DELETION_MAX_ROWS:
        protected.append(
            f"This deletion takes {total:,} rows with what they own, more than the "
            f"{DELETION_MAX_ROWS:,} the admin deletes at once: select fewer{elsewhere}."
        )
    summary = {model._meta.verbose_name_plural: count for model, count in counts.items()}
    return _counted_folded(nested), summary, perms_needed, protected


def _listed_within(objects, label) -> list:
    """A label for each object, but at most DELETION_LISTED_PER_MODEL of each kind, followed by a
    line giving how many more of that kind there are."""
    by_model = defaultdict(list)
    for obj in objects:
        by_model[type(obj)].append(obj)
    listed = []
    for model, objs in by_model.items():
        listed += [label(obj) for obj in objs[:DELETION_LISTED_PER_MODEL]]
        if (more := len(objs) - DELETION_LISTED_PER_MODEL) > 0:
            name = model._meta.verbose_name if more == 1 else model._meta.verbose_name_plural
            listed.append(f"…and {more:,} more {name}")
    return listed


def _counted_folded(items: list) -> list:
    """A nested list of labels where the objects of a counted kind (given as their model) are one
    line with their number; what they own is in the page's counts."""
    folded, counted, theirs = [], Counter(), False
    for item in items:
        if isinstance(item, list):
            if not theirs:
                folded.append(_counted_folded(item))
            continue
        theirs = isinstance(item, type)
        if theirs:
            counted[item] += 1
        else:
            folded.append(item)
    for model, count in counted.items():
        name = model._meta.verbose_name if count == 1 else model._meta.verbose_name_plural
        folded.append(f"{capfirst(name)}: {count:,}")
    return folded


def may_open(request, admin_site, model: str) -> bool:
    """Whether the staff user may open the admin's list of `model` ("app_label.model_name"), as
    the list itself checks: a link to one they may not open would answer 403."""
    model_admin = admin_site.get_model_admin(apps.get_model(model))
    return model_admin.has_view_or_change_permission(request)


def lists_linked(request, admin_site, lists) -> str:
    """Links to admin lists, each `(model, query, label)`, but to those the staff user may open."""
    shown = [
        (reverse(f"{admin_site.name}:{model.replace('.', '_')}_changelist"), query, label)
        for model, query, label in lists
        if may_open(request, admin_site, model)
    ]
    if not shown:
        return "—"
    return format_html_join(" · ", '<a href="{}?{}">{}</a>', shown)


class LinksByViewer(admin.ModelAdmin):
    """An object page whose read-only fields link to other lists, only those the staff user may
    open: Django hands such a field the object, not the request, so the object read for the page
    carries the request that reads it (`admin_request`)."""

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj.admin_request = request
        return obj


class OwnedRecordsGo(admin.ModelAdmin):
    """Deleting an object takes the records it owns with it: a job's history, a workspace's ledger
    and audit log. Those are read-only here, never deleted one by one, so Django would count them
    as rows the staff user may not delete and refuse the whole deletion."""

    # What to do instead of a deletion too big for the admin, after "select fewer".
    deletion_elsewhere = ""

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = deleted_objects(
            objs, request, self.admin_site, elsewhere=self.deletion_elsewhere
        )
        records = {
            model._meta.verbose_name
            for model, model_admin in self.admin_site._registry.items()
            if isinstance(model_admin, ReadOnlyAdmin)
        }
        return deleted, counts, perms_needed - records, protected

    # What a deletion here ends in turn (a shared resource's links) names the staff user.
    def delete_model(self, request, obj):
        with deletion_by(request.user):
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with deletion_by(request.user):
            super().delete_queryset(request, queryset)


def audited_save(request, obj, names, *, change: bool, save, tenant=None) -> None:
    """`save()` a workspace's object edited in the admin, and record it in the workspace's audit
    log under the staff user's name: a creation with the form's fields, a change with the fields
    it changed, before and after. The workspace is the object's own unless `tenant` is given."""
    rows = type(obj)._default_manager
    old = audit_values(rows.get(pk=obj.pk), names) if change else None
    save()
    # As stored: a form's cleaned values are not yet what the columns make of them (120 → 120.00).
    new = audit_values(rows.get(pk=obj.pk), names)
    if old != new:
        action = AuditEvent.Action.UPDATE if change else AuditEvent.Action.CREATE
        audit_record(
            tenant=tenant or obj.tenant,
            resource=obj,
            action=action,
            actor=request.user,
            old=old,
            new=new,
        )


def audited_form_save(request, obj, form, change: bool, *, save, tenant=None) -> None:
    """audited_save of an object edited in an admin form: a creation with the form's fields, a
    change with those it changed."""
    names = set(form.changed_data) if change else set(form.fields)
    audited_save(request, obj, names, change=change, save=save, tenant=tenant)


def audited_formset_save(request, formset, *, prepare=None, fields=None) -> None:
    """Save an inline formset's objects, each created, changed or deleted one in its workspace's
    audit log with its `fields` (by default the form's); `prepare(obj)` runs before each is
    saved."""
    fields = set(fields or formset.form.base_fields)
    objects = formset.save(commit=False)
    changed = {id(obj): names for obj, names in formset.changed_objects}
    for obj in objects:
        if prepare is not None:
            prepare(obj)
        names = changed.get(id(obj))
        audited_save(
            request,
            obj,
            set(names or fields),
            change=names is not None,
            save=obj.save,
        )
    for obj in formset.deleted_objects:
        audited_delete(request, obj, fields, delete=obj.delete)


def audited_delete(request, obj, names, *, delete) -> None:
    """`delete()` a workspace's object in the admin, recorded in the workspace's audit log with
    the values it had in the fields `names` (those staff see)."""
    with transaction.atomic():
        audit_record(
            tenant=obj.tenant,
            resource=obj,
            action=AuditEvent.Action.DELETE,
            actor=request.user,
            old=audit_values(obj, names),
        )
        with deletion_by(request.user):
            delete()


class WorkspaceFilter(admin.SimpleListFilter):
    """A list narrowed to one workspace (`?tenant=<id>`, as a workspace's own page links to it),
    without a sidebar naming every workspace: only the chosen one is shown. The search box finds
    objects by workspace slug."""

    title = "workspace"
    parameter_name = "tenant"

    def lookups(self, request, model_admin):
        if self.value() is None:
            return []
        tenant = Tenant.objects.filter(pk=self.value()).first() if self._valid() else None
        return [(self.value(), str(tenant) if tenant else "(no such workspace)")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(tenant_id=self.value()) if self._valid() else queryset.none()

    def _valid(self) -> bool:
        return self.value() is not None and self.value().isascii() and self.value().isdigit()


class RelatedSearchedFirst(admin.ModelAdmin):
    """A search box that finds objects by their own columns (search_fields, each with an index
    in a table that grows: core.operations.AddSearchIndex) or by an object they point at
    (search_related: a workspace's slug, a client's name). Those are looked up first, among a few
    thousand, and their objects then found through the foreign key's index: the joined column
    OR'ed with the object's own, as search_fields would have it, reads every object. As Django's
    search, each word (or "quoted phrase") of the term must match one or the other."""

    # {foreign key: the field of the model it points at that the term is looked for in}.
    search_related: dict[str, str] = {}

    def get_search_results(self, request, queryset, search_term):
        found, may_have_duplicates = queryset, False
        for word in smart_split(search_term):
            own, duplicates = super().get_search_results(request, queryset, word)
            found &= own | queryset.filter(self._related(word))
            may_have_duplicates |= duplicates
        return found, may_have_duplicates

    def _related(self, word: str) -> Q:
        if word.startswith(('"', "'")) and word[0] == word[-1]:
            word = unescape_string_literal(word)
        # Nothing to look up finds nothing: an empty Q() would match every object.
        found = Q(pk__in=[])
        for key, field in self.search_related.items():
            related = self.opts.get_field(key).related_model._default_manager
            matching = related.filter(**{f"{field}__icontains": word}).order_by()
            found |= Q(**{f"{key}__in": list(matching.values_list("pk", flat=True))})
        return found


class ChoicesListFilter(admin.SimpleListFilter):
    """A filter on a column whose values are known in advance: listing them from the table (as a
    field's default filter does) would read every row on every page."""

    values: list[str] = []

    def lookups(self, request, model_admin):
        return [(value, value) for value in self.values]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        if self.value() not in self.values:
            # No row holds it; a value PostgreSQL refuses (a NUL byte) is never sent.
            return queryset.none()
        return queryset.filter(**{self.parameter_name: self.value()})


class WorkspaceOwnedAdmin(OwnedRecordsGo):
    """An object stays in the workspace it was created in: what points at it (entries, lines,
    usage, the key a client holds) belongs to that workspace too."""

    def get_readonly_fields(self, request, obj=None):
        fixed = super().get_readonly_fields(request, obj)
        if obj is None or "tenant" in fixed:
            return fixed
        return [*fixed, "tenant"]


class AuditedAdmin(WorkspaceOwnedAdmin):
    """Staff creating, changing and deleting a workspace's objects here appear in the workspace's
    audit log, as they do through the API (Django's admin history keeps its own record too)."""

    def save_model(self, request, obj, form, change):
        save = functools.partial(super().save_model, request, obj, form, change)
        audited_form_save(request, obj, form, change, save=save)

    def delete_model(self, request, obj):
        delete = functools.partial(super().delete_model, request, obj)
        audited_delete(request, obj, self._shown(request, obj), delete=delete)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                audited_delete(request, obj, self._shown(request, obj), delete=obj.delete)

    def _shown(self, request, obj) -> set[str]:
        return set(flatten_fieldsets(self.get_fieldsets(request, obj)))


class MembershipInline(admin.TabularInline):
    """The workspace's members: each named as read with the row (a raw id box would look up each
    name with a query of its own), their role changed or their membership removed here."""

    model = Membership
    extra = 0
    readonly_fields = ["user"]

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        # Each row is labelled with its user and workspace (Membership.__str__).
        return super().get_queryset(request).select_related("user", "tenant")


class NewMembershipFormSet(forms.BaseInlineFormSet):
    """The workspace's members are in the other inline's formset: a user already among them is
    this form's error, not the database's (an IntegrityError, a 500)."""

    @classmethod
    def get_default_prefix(cls):
        # Its own, whether or not the members' inline is on the page before it.
        return "new-members"

    def clean(self):
        super().clean()
        if self.instance.pk is None:
            return
        members = set(
            Membership.objects.filter(tenant=self.instance).values_list("user_id", flat=True)
        )
        for form in self.forms:
            user = getattr(form, "cleaned_data", {}).get("user")
            if user is not None and user.pk in members and not self._should_delete_form(form):
                form.add_error("user", f"{user} is already a member of this workspace.")


class NewMembershipInline(admin.TabularInline):
    """Members joining the workspace."""

    model = Membership
    formset = NewMembershipFormSet
    extra = 0
    raw_id_fields = ["user"]
    verbose_name = "new member"
    verbose_name_plural = "new members"

    def get_queryset(self, request):
        return super().get_queryset(request).none()


class CreditGrantForm(forms.ModelForm):
    grant_credits = forms.IntegerField(
        required=False, min_value=1, help_text="Add this many credits (written to the ledger)."
    )

    class Meta:
        model = Tenant
        fields = ["name", "slug", "is_active"]

    def clean_grant_credits(self):
        amount = self.cleaned_data["grant_credits"]
        if amount and (refusal := credits_grant_refusal(tenant=self.instance, amount=amount)):
            raise forms.ValidationError(refusal)
        return amount


@admin.register(Tenant)
class TenantAdmin(LinksByViewer, OwnedRecordsGo):
    form = CreditGrantForm
    list_display = ["name", "slug", "credit_balance", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    readonly_fields = ["credit_balance", "created_at", "objects_lists"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline, NewMembershipInline]
    # A workspace of more members than this lists them from its "members" link, not as forms on
    # its page (2,000 members made a page of 2.8 MB).
    MEMBERS_ON_PAGE_MAX = 100
    # Beyond this many jobs a workspace is deleted by `manage.py delete_tenant`, in batches, and
    # the admin does not even collect its rows; fewer jobs can still own too many rows in all.
    ADMIN_DELETE_MAX_JOBS = 10_000
    deletion_elsewhere = ", or deactivate the workspace and run `manage.py delete_tenant <slug>`"
    # The lists narrowed to a workspace by WorkspaceFilter, as its page links to them.
    OBJECT_LISTS = [
        ("jobs.job", "jobs"),
        ("budgets.project", "projects"),
        ("budgets.timeentry", "time entries"),
        ("budgets.materialentry", "material entries"),
        ("budgets.budgetalert", "budget alerts"),
        ("invoices.client", "clients"),
        ("invoices.invoice", "invoices"),
        ("generations.deck", "decks"),
        ("generations.flashcard", "flashcards"),
        ("generations.story", "stories"),
        ("generations.skilltree", "skill trees"),
        ("generations.generatedimage", "images"),
        ("sharelinks.publiclink", "share links"),
        ("accounts.membership", "members"),
        ("accounts.apikey", "API keys"),
        ("accounts.creditentry", "credits"),
        ("accounts.notification", "notifications"),
        ("accounts.auditevent", "audit log"),
    ]

    def get_deleted_objects(self, objs, request):
        too_big = [
            f"{tenant} holds {jobs:,} jobs, too many to delete here: deactivate it, or run "
            f"`manage.py delete_tenant {tenant.slug}`."
            for tenant in objs
            if (jobs := tenant.jobs.count()) > self.ADMIN_DELETE_MAX_JOBS
        ]
        # Jobs are purged within days; a workspace's ledger, audit log, links and entries stay,
        # and collecting them all (the confirmation page's list) would outlast the request. They
        # are counted first, each kind only up to the most the admin deletes at once, and the
        # workspaces selected together: each within it, several can still be more than that.
        if not too_big and tenants_own_more_than(objs, DELETION_MAX_ROWS):
            too_big = [
                f"{objs[0]} holds more than {DELETION_MAX_ROWS:,} rows (credit ledger, audit log, "
                f"share links, entries…), too many to delete here: deactivate it, or run "
                f"`manage.py delete_tenant {objs[0].slug}`."
                if len(objs) == 1
                else f"These {len(objs)} workspaces hold more than {DELETION_MAX_ROWS:,} rows "
                f"together (credit ledger, audit log, share links, entries…), too many to delete "
                f"here: select fewer, or deactivate them and run `manage.py delete_tenant <slug>` "
                f"for each."
            ]
        if too_big:
            # Shown as what protects the workspaces: the page refuses the deletion.
            return [], {}, set(), too_big
        return super().get_deleted_objects(objs, request)

    def get_inlines(self, request, obj):
        # A page sent with its members' forms (opened before the workspace grew past the limit)
        # is saved with them: their changes are not dropped.
        sent_with_members = request.method == "POST" and "memberships-TOTAL_FORMS" in request.POST
        if obj is not None and not sent_with_members and self._members_elsewhere(obj):
            return [NewMembershipInline]
        return self.inlines

    def _members_elsewhere(self, tenant) -> bool:
        members = Membership.objects.filter(tenant=tenant).order_by()
        return members[: self.MEMBERS_ON_PAGE_MAX + 1].count() > self.MEMBERS_ON_PAGE_MAX

    @admin.display(description="Its objects")
    def objects_lists(self, tenant):
        if tenant.pk is None:
            return "—"
        lists = [(model, f"tenant={tenant.pk}", label) for model, label in self.OBJECT_LISTS]
        return lists_linked(tenant.admin_request, self.admin_site, lists)

    def save_model(self, request, obj, form, change):
        names = set(form.changed_data) if change else set(form.fields)
        if change and "is_active" in names:
            # As `manage.py deactivate_tenant` (or its --undo) does it: audited as a deactivation
            # (an update when activated again).
            names.discard("is_active")
            tenant_active_set(tenant=obj, active=obj.is_active, actor=request.user)
        # Its name and slug are in its own audit log too, like its members. A change writes the
        # form's fields only: the balance as the page read it would undo a job charged or
        # refunded meanwhile.
        if change:
            columns = {field.name for field in Tenant._meta.concrete_fields}
            save = functools.partial(obj.save, update_fields=columns.intersection(form.fields))
        else:
            save = functools.partial(super().save_model, request, obj, form, change)
        audited_save(request, obj, names, change=change, save=save, tenant=obj)
        # Once saved, as it refunds credits.
        # As many jobs as an action changes at once: a backlog of thousands would outlast the
        # request; the rest are canceled as workers reach them, or by the command.
        if change and "is_active" in form.changed_data and not obj.is_active:
            stopped = tenant_jobs_stop(tenant=obj, actor=request.user, limit=ACTION_MAX_OBJECTS)
            if stopped:
                messages.info(request, stopped)
        amount = form.cleaned_data.get("grant_credits")
        if amount:
            credits_grant(
                tenant=obj, amount=amount, reason="Granted in the admin", created_by=request.user
            )
            messages.success(request, f"Granted {amount} credits to {obj}.")

    def save_formset(self, request, form, formset, change):
        audited_formset_save(request, formset, fields=MEMBERSHIP_AUDITED_FIELDS)


MEMBERSHIP_AUDITED_FIELDS = {"user", "tenant", "role"}


def permissions_held(user) -> QuerySet:
    """The permissions `user` holds, their own and their groups', whether or not they are active
    (one made active again holds them all)."""
    if user.is_superuser:
        return Permission.objects.all()
    return Permission.objects.filter(Q(user=user) | Q(group__user=user)).distinct()


def roles_beyond(staff, users) -> bool:
    """Whether any of `users` is a member of a workspace that `staff` is not, or its admin where
    `staff` is only a member."""
    held = Membership.objects.filter(user=staff)
    return (
        Membership.objects.filter(user__in=users)
        .exclude(tenant__in=held.filter(role=Membership.Role.ADMIN).values("tenant"))
        .exclude(role=Membership.Role.MEMBER, tenant__in=held.values("tenant"))
        .exists()
    )


class GrantsHeldOnly(admin.ModelAdmin):
    """Users and groups, for staff who are not superusers: the permission to change users or
    groups would otherwise be every permission (they would give it to themselves, or set the
    password of a user who holds it). They make no one a superuser, give a user or a group only
    permissions they hold themselves (and groups that hold no more), and change or delete only the
    users and groups that hold nothing more than they do (a user, no workspace role either)."""

    # The paths from a permission to what holds it, of the admin's model (a user: their own and
    # their groups'). None named, every permission counts as held: nothing is changed.
    held_through: tuple[str, ...] = ()

    def permissions_of(self, objs) -> QuerySet:
        """The permissions the users or groups `objs` hold."""
        holding = Q()
        for path in self.held_through:
            holding |= Q(**{f"{path}__in": objs})
        return Permission.objects.filter(holding)

    def outranks(self, request, objs) -> bool:
        """Whether any of `objs` holds something the staff user does not: the same few queries
        however many are selected."""
        if request.user.is_superuser:
            return False
        if any(getattr(obj, "is_superuser", False) for obj in objs):
            return True
        held = permissions_held(request.user).values("pk")
        return self.permissions_of(objs).exclude(pk__in=held).exists()

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not (
            obj is not None and self.outranks(request, [obj])
        )

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (
            obj is not None and self.outranks(request, [obj])
        )

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # "Delete selected" asks the model's permission alone, not each object's.
        if self.outranks(request, objs):
            perms_needed = {*perms_needed, self.opts.verbose_name}
        return deleted, counts, perms_needed, protected

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        held = permissions_held(request.user)
        if db_field.name in ("permissions", "user_permissions"):
            kwargs["queryset"] = held
        elif db_field.name == "groups" and not request.user.is_superuser:
            beyond = Permission.objects.exclude(pk__in=held.values("pk"))
            kwargs["queryset"] = Group.objects.exclude(permissions__in=beyond)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(GrantsHeldOnly, auth_admin.GroupAdmin):
    """Django's, held to what the staff user holds (GrantsHeldOnly)."""

    held_through = ("group",)


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class UserAdmin(GrantsHeldOnly, OwnedRecordsGo, auth_admin.UserAdmin):
    """Django's, held to what the staff user holds (GrantsHeldOnly), and a user deleted here leaves
    in each workspace's audit log the membership that goes with them, as removing the member on the
    workspace's page does; their notifications go with them."""

    held_through = ("user", "group__user")

    def outranks(self, request, objs) -> bool:
        # A workspace role is held too: the account of a workspace's admin, made staff with a
        # password set here, would act as that admin in the API (staff sign-in).
        if super().outranks(request, objs):
            return True
        return not request.user.is_superuser and roles_beyond(request.user, objs)

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if request.user.is_superuser or obj is None:
            return fields
        return [*fields, "is_superuser"]

    def delete_model(self, request, obj):
        with transaction.atomic():
            _memberships_audited_gone(request, [obj])
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            _memberships_audited_gone(request, queryset)
            super().delete_queryset(request, queryset)


# The admin login's lockouts (accounts.login_lockout). Failures are not kept one by one
# (AXES_ENABLE_ACCESS_FAILURE_LOG is off): that list would stay empty.
admin.site.unregister(AccessFailureLog)
admin.site.unregister(AccessAttempt)


@admin.register(AccessAttempt)
class LoginAttemptAdmin(AccessAttemptAdmin):
    """django-axes', but its action deletes rows, so it needs the delete permission (staff who may
    only view the attempts could otherwise run it), and it works: axes 8.3 reads the time of the
    request from an attribute that only a login request carries, and fails with a 500."""

    actions = ["cleanup_expired_attempts"]

    @admin.action(description="Clean up expired attempts", permissions=["delete"])
    def cleanup_expired_attempts(self, request, queryset):
        AxesProxyHandler.update_request(request)
        return super().cleanup_expired_attempts(request, queryset)


def _memberships_audited_gone(request, users) -> None:
    memberships = Membership.objects.filter(user__in=users).select_related("tenant", "user")
    for membership in memberships:
        audited_delete(request, membership, MEMBERSHIP_AUDITED_FIELDS, delete=lambda: None)


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", WorkspaceFilter]
    search_fields = ["user__username", "user__email", "tenant__slug"]
    list_select_related = ["user", "tenant"]
    raw_id_fields = ["user", "tenant"]


class ApiKeyCreateForm(forms.ModelForm):
    expires_in_days = forms.IntegerField(required=False, min_value=1, max_value=API_KEY_MAX_DAYS)

    class Meta:
        model = ApiKey
        fields = ["tenant", "name", "role", "rate_limit_per_minute", "rate_limit_per_day"]


class ApiKeyChangeForm(forms.ModelForm):
    def clean_expires_at(self):
        """Moved, the expiry is held to the same horizon as a new key's; a date in the past
        expires the key now."""
        expires_at = self.cleaned_data["expires_at"]
        latest = timezone.now() + timedelta(days=API_KEY_MAX_DAYS)
        if "expires_at" in self.changed_data and expires_at and expires_at > latest:
            raise forms.ValidationError(f"At most {API_KEY_MAX_DAYS} days from now.")
        return expires_at


class MadeByKeyFilter(admin.SimpleListFilter):
    title = "made by"
    parameter_name = "made_by"

    def lookups(self, request, model_admin):
        return [("key", "A key"), ("other", "Staff or a command")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(created_by_key__isnull=self.value() != "key")


@admin.register(ApiKey)
class ApiKeyAdmin(LinksByViewer, AuditedAdmin):
    list_display = [
        "prefix",
        "name",
        "tenant",
        "role",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ]
    list_filter = [
        "role",
        ("revoked_at", admin.EmptyFieldListFilter),
        MadeByKeyFilter,
        WorkspaceFilter,
    ]
    search_fields = ["prefix", "name", "tenant__slug"]
    search_help_text = (
        f"A key pasted whole ({API_KEY_SCHEME}…), or its prefix; a key's name; a workspace's slug."
    )
    list_select_related = ["tenant"]
    raw_id_fields = ["tenant", "created_by"]
    readonly_fields = [
        "prefix",
        "created_by",
        "created_by_key",
        "created_at",
        "revoked_at",
        "last_used_at",
        "activity",
    ]
    fields = [
        "tenant",
        "name",
        "role",
        "prefix",
        "expires_at",
        "rate_limit_per_minute",
        "rate_limit_per_day",
        "created_by",
        "created_by_key",
        "created_at",
        "revoked_at",
        "last_used_at",
        "activity",
    ]
    actions = ["revoke"]

    @admin.display(description="what it did")
    def activity(self, api_key):
        """Where to look after a leak: the jobs it submitted, the keys and share links it created
        and everything it did in its workspace's audit log."""
        lists = [
            ("jobs.job", f"api_key={api_key.pk}", "jobs it submitted"),
            ("accounts.apikey", f"created_by_key={api_key.pk}", "keys it created"),
            ("sharelinks.publiclink", f"created_by_key={api_key.pk}", "share links it created"),
            (
                "accounts.auditevent",
                f"actor_type={AuditEvent.ActorType.API_KEY}&actor_id={api_key.pk}",
                "its audit events",
            ),
        ]
        return lists_linked(api_key.admin_request, self.admin_site, lists)

    def get_search_results(self, request, queryset, search_term):
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # A leaked key pasted whole, or its scheme and prefix as the logs show it.
        if search_term.strip().startswith(API_KEY_SCHEME):
            found |= queryset.filter(api_keys_named(search_term))
        return found, may_have_duplicates

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = ApiKeyCreateForm if obj is None else ApiKeyChangeForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return [*ApiKeyCreateForm.Meta.fields, "expires_in_days"]
        return self.fields

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        api_key, plaintext = api_key_create(created_by=request.user, **form.cleaned_data)
        obj.pk, obj.prefix = api_key.pk, api_key.prefix
        request.new_api_key = plaintext

    def response_add(self, request, obj, post_url_continue=None):
        """The new key is shown on the page that answers the form, never passed on to the next
        one: a message would carry it there in a cookie (or the session), stored in the clear."""
        plaintext = getattr(request, "new_api_key", None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "API key created",
            "api_key": obj,
            "plaintext": plaintext,
            "change_url": reverse("admin:accounts_apikey_change", args=[obj.pk]),
            # "Save and add another" leads on to a new form from here, once the key is copied.
            "add_url": reverse("admin:accounts_apikey_add")
            if "_addanother" in request.POST
            else "",
            "changelist_url": reverse("admin:accounts_apikey_changelist"),
        }
        return TemplateResponse(request, "admin/accounts/apikey/created.html", context)

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        command = "manage.py revoke_api_key <prefix>, or deactivate_tenant for a whole workspace"
        if selection_too_big(request, queryset, command=command):
            return
        revoked = already = revoked_with = 0
        # Those made first: a selected key is counted as selected, not as made by another one.
        for api_key in queryset.order_by("-pk"):
            if api_key.revoked_at is None:
                revoked += 1
            else:
                already += 1
            revoked_with += api_key_revoke(api_key=api_key, actor=request.user)
        message = f"Revoked {revoked} key{pluralize(revoked)}"
        if revoked_with:
            makers = "it" if revoked + already == 1 else "them"
            message += f", and {revoked_with} key{pluralize(revoked_with)} made by {makers}"
        message += "."
        if already:
            message += f" {already} {pluralize(already, 'was,were')} already revoked."
        messages.success(request, message)


class EstimatedCountPaginator(Paginator):
    """Counts an unfiltered list of a large table from PostgreSQL's estimate of its rows
    (pg_class.reltuples, kept current by autovacuum): COUNT(*) over tens of millions of audit
    events or ledger entries takes seconds on every page. A filtered or searched list, or a table of
    ESTIMATE_ABOVE rows or fewer, is counted exactly."""

    ESTIMATE_ABOVE = 100_000

    @cached_property
    def count(self):
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [self.object_list.model._meta.db_table],
                )
                estimate = cursor.fetchone()[0]
            if estimate > self.ESTIMATE_ABOVE:
                return estimate
        return super().count


class FirstPagesPaginator(EstimatedCountPaginator):
    """Offers the first PAGES_MAX pages of a list: a page further on is read past every row before
    it (OFFSET), a second or more deep into a table of millions. The rows beyond are reached by
    narrowing the list (a day, a workspace, a search) or by the other sort order; a page beyond
    (an old link, `?p=` made by hand) opens the list's first page, as Django's admin does for a
    page past the end."""

    PAGES_MAX = 100

    @cached_property
    def num_pages(self):
        return min(super().num_pages, self.PAGES_MAX)


class SortedAsOffered(ChangeList):
    """A list sorted only by the columns it offers to sort by (sortable_by): Django's own takes
    any column of `?o=` (an old bookmark, a link made by hand) and sorts the whole table by it.
    The others are left out of `?o=`; with none left, the list keeps its own order."""

    def get_queryset(self, request, exclude_parameters=None):
        if ORDER_VAR in self.params and self.sortable_by is not None:
            offered = [part for part in self.params[ORDER_VAR].split(".") if self._offered(part)]
            if offered:
                self.params[ORDER_VAR] = ".".join(offered)
            else:
                del self.params[ORDER_VAR]
        return super().get_queryset(request, exclude_parameters)

    def _offered(self, part: str) -> bool:
        try:
            return self.list_display[int(part.lstrip("-"))] in self.sortable_by
        except (IndexError, ValueError):
            return False


class LargeTableAdmin(admin.ModelAdmin):
    """The list of a table that keeps growing: its pages are counted from the estimate (and only
    the first ones offered), and a filtered list does not count the whole table as well
    ("5 results (10,000,000 total)")."""

    paginator = FirstPagesPaginator
    show_full_result_count = False
    # "Show counts" beside the filters counts every choice of every filter over the whole table.
    show_facets = admin.ShowFacets.NEVER

    def get_changelist(self, request, **kwargs):
        return SortedAsOffered


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AuditResourceTypeFilter(ChoicesListFilter):
    """The resource types the audit log holds, each found in the (resource_type, resource_id)
    index with one step (a loose index scan): listing the column's values as a field's filter
    does reads every event."""

    title = "resource type"
    parameter_name = "resource_type"

    @cached_property
    def values(self):
        return column_values(AuditEvent, "resource_type")


# The ledger and the audit log are never purged: sorted by another column than their time (which
# their index keeps in order), a page would sort every row of the table.
SORTED_BY_TIME_ONLY = ["created_at"]


@admin.register(CreditEntry)
class CreditEntryAdmin(RelatedSearchedFirst, LargeTableAdmin, ReadOnlyAdmin):
    list_display = ["created_at", "tenant", "kind", "amount", "balance_after", "reason", "job"]
    list_filter = ["kind", WorkspaceFilter]
    search_fields = ["reason"]
    search_related = {"tenant": "slug"}
    search_help_text = "Words of a reason, or a workspace's slug."
    list_select_related = ["tenant", "job"]
    raw_id_fields = ["job", "refund_of"]
    sortable_by = SORTED_BY_TIME_ONLY


@admin.register(AuditEvent)
class AuditEventAdmin(RelatedSearchedFirst, LargeTableAdmin, ReadOnlyAdmin):
    list_display = ["created_at", "tenant", "action", "resource_type", "resource_id", "actor_label"]
    list_filter = ["action", "actor_type", AuditResourceTypeFilter, WorkspaceFilter]
    # A resource's id whole: a part of one ("42") would list every id that holds it.
    search_fields = ["=resource_id", "actor_label"]
    search_related = {"tenant": "slug"}
    search_help_text = "A resource's id, whole; words of who did it; a workspace's slug."
    list_select_related = ["tenant"]
    sortable_by = SORTED_BY_TIME_ONLY


@admin.register(Notification)
class NotificationAdmin(RelatedSearchedFirst, LargeTableAdmin, ReadOnlyAdmin):
    """Notifications are what the alerts sent: raised, and resolved when what raised them clears,
    by the code that watches it. One changed by hand would tell its recipient something that did
    not happen (or in another workspace, unaudited); so staff only read them here, mark their own
    as read, and they go with their workspace or their recipient."""

    list_display = ["created_at", "title", "kind", "tenant", "user", "read_at", "resolved_at"]
    list_filter = ["kind", ("resolved_at", admin.EmptyFieldListFilter), WorkspaceFilter]
    search_fields = ["title", "alert_key"]
    search_related = {"user": "email", "tenant": "slug"}
    search_help_text = "Words of its title or alert key; its recipient's email; a workspace's slug."
    list_select_related = ["tenant", "user"]
    # They are never purged: the newest first along the primary key, and by no other column, which
    # (the creation time included: it has no index across recipients) would sort every one.
    ordering = ["-pk"]
    sortable_by = []
    actions = ["mark_read"]

    def has_mark_read_permission(self, request):
        return request.user.has_perm("accounts.change_notification")

    @admin.action(description="Mark as read", permissions=["mark_read"])
    def mark_read(self, request, queryset):
        if selection_too_big(request, queryset):
            return
        marked = notifications_mark_read(notifications=queryset, user=request.user)
        message = f"Marked {marked} notification{pluralize(marked)} as read."
        others = queryset.exclude(user=request.user).count()
        if others:
            message += (
                f" {others} {pluralize(others, 'is,are')} for someone else: only its recipient "
                f"marks {pluralize(others, 'it,them')} read."
            )
        messages.success(request, message)
