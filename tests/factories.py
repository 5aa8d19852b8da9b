import factory
from django.contrib.auth import get_user_model

from accounts.models import Membership, Tenant
from accounts.services import api_key_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}@example.com")
    email = factory.SelfAttribute("username")
    password = factory.django.Password("correct horse battery staple")


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Workspace {n}")
    slug = factory.Sequence(lambda n: f"workspace-{n}")
    credit_balance = 0


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.ADMIN


def api_key_for(tenant, **kwargs) -> str:
    """Create an API key for the tenant and return its plaintext."""
    kwargs.setdefault("role", Membership.Role.ADMIN)
    _, plaintext = api_key_create(tenant=tenant, **kwargs)
    return plaintext
