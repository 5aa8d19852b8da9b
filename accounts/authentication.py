from dataclasses import dataclass

from rest_framework import authentication, exceptions

from accounts.auth_failures import AuthenticationFailures
from accounts.models import ApiKey, Membership, Tenant
from accounts.services import API_KEY_SCHEME, api_key_authenticate
from core.request_context import bind_log_context


@dataclass
class Principal:
    """Who is calling the API: a tenant, with an API key or a staff user's session."""

    tenant: Tenant
    role: str
    api_key: ApiKey | None = None
    user: object | None = None

    is_authenticated = True
    is_anonymous = False

    @property
    def is_admin(self) -> bool:
        return self.role == Membership.Role.ADMIN

    @property
    def actor(self):
        return self.api_key or self.user

    @property
    def pk(self):
        return f"key:{self.api_key.pk}" if self.api_key else f"user:{self.user.pk}"


INVALID_KEY = "The API key is invalid, expired or revoked."
AMBIGUOUS_KEYS = "Authorization and X-Api-Key carry different keys: send one key, in one of them."


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>` or `X-Api-Key: <key>`."""

    keyword = "Bearer"

    def authenticate(self, request):
        failures = AuthenticationFailures(request)
        try:
            plaintext = self._presented_key(request)
            if plaintext is None:
                return None
            api_key = api_key_authenticate(plaintext, look_up=failures.look_up)
            if api_key is None:
                raise exceptions.AuthenticationFailed(INVALID_KEY)
        except exceptions.AuthenticationFailed:
            failures.failed()
            raise
        bind_log_context(tenant=api_key.tenant.slug)
        return Principal(tenant=api_key.tenant, role=api_key.role, api_key=api_key), api_key

    def _presented_key(self, request) -> str | None:
        bearer = self._bearer_key(request)
        # Empty, it carries no key (a client template whose variable was left unset).
        api_key = request.headers.get("X-Api-Key", "").strip() or None
        if bearer is None:
            return api_key
        # Beside a Bearer key, an X-Api-Key that is no key of ours is left to whatever reads it
        # (an API gateway in front: AWS's usage plans take their own key from that header).
        if api_key is None or api_key == bearer or not api_key.startswith(API_KEY_SCHEME):
            return bearer
        # Two different keys: which one the caller means is a guess, and a guess may act as
        # another key, or workspace, than the one it meant.
        raise exceptions.AuthenticationFailed(AMBIGUOUS_KEYS)

    def _bearer_key(self, request) -> str | None:
        header = request.headers.get("Authorization")
        if header is None:
            return None
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != self.keyword.lower() or not credentials.strip():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <key>'.")
        return credentials.strip()

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """A logged-in staff user acts for the tenant they are a member of."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, _ = result
        membership = (
            Membership.objects.select_related("tenant")
            .filter(user=user, tenant__is_active=True)
            .order_by("role", "created_at")
            .first()
        )
        if not user.is_staff or membership is None:
            return None
        return Principal(tenant=membership.tenant, role=membership.role, user=user), None
