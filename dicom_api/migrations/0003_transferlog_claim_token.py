from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("dicom_api", "0002_audit_search_indexes"),
    ]

    operations = [
        migrations.RenameField(model_name="transferlog", old_name="worker_id", new_name="claim_token"),
    ]
