"""Cost records, written faster: no database foreign key to the tenant (nor an index of its own),
and the unique key day first so that no index on `day` alone is kept (billing/models.py, and
docs/costs.md "Aggregation")."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0002_costs'),
        ('tenants', '0005_api_key_scope'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='costrecord',
            name='cost_record_once',
        ),
        migrations.RemoveIndex(
            model_name='costrecord',
            name='cost_record_day',
        ),
        migrations.AlterField(
            model_name='costrecord',
            name='tenant',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='cost_records', to='tenants.tenant'),
        ),
        migrations.AddConstraint(
            model_name='costrecord',
            constraint=models.UniqueConstraint(fields=('day', 'tenant_label', 'site_label', 'service', 'currency'), name='cost_record_once'),
        ),
    ]
