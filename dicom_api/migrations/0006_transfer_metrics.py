"""The figures of the metrics and the dashboard as columns of the audit trail, and the index of
finished sends by when they ended. An import's bytes come from its details; a send made before
this migration has no byte count (its import may be gone), nor times."""

from django.db import migrations, models
from django.db.models import BigIntegerField, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce


def imports_byte_count(apps, schema_editor):  # type: ignore[no-untyped-def]
    TransferLog = apps.get_model("dicom_api", "TransferLog")
    TransferLog.objects.filter(action="import", details__has_key="total_bytes").update(
        byte_count=Coalesce(Cast(KT("details__total_bytes"), BigIntegerField()), Value(0))
    )


class Migration(migrations.Migration):
    dependencies = [
        ("dicom_api", "0005_transfer_ledger"),
    ]

    operations = [
        migrations.AddField(
            model_name="transferlog",
            name="byte_count",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="transferlog",
            name="queue_seconds",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="transferlog",
            name="send_seconds",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="transferlog",
            name="started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="transferlog",
            index=models.Index(
                condition=models.Q(("action", "send")), fields=["completed_at"], name="log_send_completed_idx"
            ),
        ),
        migrations.RunPython(imports_byte_count, migrations.RunPython.noop, elidable=True),
    ]
