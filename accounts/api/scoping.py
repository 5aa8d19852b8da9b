class TenantScopedMixin:
    """Every queryset of the view is filtered to the caller's tenant, so a view cannot forget it:
    another tenant's object is simply not found."""

    @property
    def tenant(self):
        return self.request.user.tenant

    def get_queryset(self):
        return super().get_queryset().filter(tenant=self.tenant)
