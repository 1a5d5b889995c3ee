"""``manage.py housekeeping``: run the housekeeping jobs now (workers also run them periodically)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dicom_api.services.housekeeping import JOBS, run_housekeeping


class Command(BaseCommand):
    help = "Expire imports, sweep upload leftovers, recover stale or lost transfers, prune old jobs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--only", choices=sorted(JOBS), help="run only this job")

    def handle(self, *args: Any, **options: Any) -> None:
        for name, count in run_housekeeping(options["only"]).items():
            self.stdout.write(f"{name}: {count}")
