import factory

from jobs.models import Job
from tests.factories import TenantFactory


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    tenant = factory.SubFactory(TenantFactory)
    type = "diagnostic"
    payload = factory.LazyFunction(lambda: {"steps": 0, "step_seconds": 0, "fail_attempts": 0})
