"""Celery app aware of tenants: tasks carry the sender's schema in the `_schema_name` header."""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aipress.settings")

app = CeleryApp("aipress")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
