"""PostgreSQL-only indexes for the audit log's filters and search (issue 6).

- ``username`` (the snapshot the ``user`` filter matches), in the default order.
- Trigram GIN indexes (pg_trgm) on ``UPPER(column::text)``: exactly the expression Django's
  ``icontains`` compares, so ``search`` over millions of entries is an index scan, not a table scan.

Built ``CONCURRENTLY`` (the table keeps taking writes while they build), hence not atomic.
On SQLite, the zero-setup default, this migration does nothing. If pg_trgm can't be installed
(not available, or no privilege), the search indexes are skipped with a warning: search still
works, only slower; run ``CREATE EXTENSION pg_trgm`` as a superuser and migrate back and forth.
"""

import logging

from django.db import DatabaseError, migrations

logger = logging.getLogger(__name__)

TABLE = "dicom_api_transferlog"
SEARCH_COLUMNS = (
    "patient_name",
    "patient_id",
    "study_instance_uid",
    "series_instance_uid",
    "series_description",
    "destination_name",
)


def trigram_index_name(column):
    return f"log_{column}_trgm_idx"


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS log_username_timestamp_idx "
        f"ON {TABLE} (username, timestamp DESC, id DESC)"
    )
    try:
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as e:
        logger.warning("pg_trgm is not available (%s): audit log search runs without trigram indexes", e)
        return
    for column in SEARCH_COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {trigram_index_name(column)} "
            f"ON {TABLE} USING gin (UPPER({column}::text) gin_trgm_ops)"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in ["log_username_timestamp_idx", *map(trigram_index_name, SEARCH_COLUMNS)]:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("dicom_api", "0001_initial")]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
