from decimal import Decimal

import factory

from budgets.models import MaterialEntry, Project, ProjectBudget, TimeEntry


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    hourly_rate = Decimal("100")


class ProjectBudgetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProjectBudget

    project = factory.SubFactory(ProjectFactory)
    tenant = factory.SelfAttribute("project.tenant")


def hours(project, amount, rate=None):
    return TimeEntry.objects.create(
        tenant=project.tenant,
        project=project,
        hours=Decimal(str(amount)),
        rate=rate or project.hourly_rate,
    )


def material(project, amount):
    return MaterialEntry.objects.create(
        tenant=project.tenant, project=project, amount=Decimal(str(amount))
    )
