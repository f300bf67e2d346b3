import uuid
from typing import Any

import factory
from allauth.account.models import EmailAddress

from tenants.models import Tenant, User

TEST_PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.django.Password(TEST_PASSWORD)

    @factory.post_generation
    def verified(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class TenantFactory(factory.django.DjangoModelFactory[Tenant]):
    """An active tenant made the way production makes one: the service, then the template's clone."""

    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"tenant{n}-{uuid.uuid4().hex[:6]}")
    name = factory.LazyAttribute(lambda t: t.slug.title())
    owner = factory.SubFactory(UserFactory)

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Tenant:
        from tenants import services
        from tenants.audit import Actor

        owner = kwargs.pop("owner")
        tenant = services.tenant_create(
            actor=Actor.system("tests"), slug=kwargs["slug"], name=kwargs["name"], owner=owner
        )
        provisioned = services.tenant_provision(tenant_id=tenant.pk)
        if provisioned is None:
            raise RuntimeError(f"tenant {tenant.slug} vanished while it was being made")
        return provisioned
