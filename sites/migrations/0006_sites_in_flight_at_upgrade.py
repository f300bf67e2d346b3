"""Sites that were half-way through a change when the platform moved to operations have no operation
to finish it: they are marked failed, with a message, and a retry (portal, API, CLI, staff console)
runs every step again. A site being deleted stays so; a retry deletes it."""

from django.db import migrations

IN_FLIGHT = ("requested", "provisioning", "updating")
MESSAGE = "Interrupted by a platform upgrade: retry the site to finish it."


def mark_failed(apps, schema_editor):  # noqa: ANN001, ANN201 - Django's migration signature
    Site = apps.get_model("sites", "Site")
    Site.objects.filter(status__in=IN_FLIGHT).update(status="failed", last_error=MESSAGE)


class Migration(migrations.Migration):
    dependencies = [("sites", "0005_operations")]

    operations = [migrations.RunPython(mark_failed, migrations.RunPython.noop)]
