"""A task that only reports which schema it ran in, for the isolation tests."""

import redis
from celery import shared_task
from django.conf import settings

from tenants.schema import tenant_database


@shared_task
def record_schema(token: str) -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.set(f"aipress-test:probe:{token}", tenant_database().schema_name, ex=60)
