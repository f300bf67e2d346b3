"""A task that only reports which schema it ran in, for the isolation tests."""

import redis
from celery import shared_task
from django.conf import settings
from django.db import connection


@shared_task
def record_schema(token: str) -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.set(f"aipress-test:probe:{token}", connection.schema_name, ex=60)
