from rest_framework import permissions

from accounts.authentication import Principal


class IsTenantMember(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, Principal)


class IsTenantAdmin(permissions.BasePermission):
    message = "Only the workspace's admins may do this."

    def has_permission(self, request, view):
        return isinstance(request.user, Principal) and request.user.is_admin
