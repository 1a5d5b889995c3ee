"""The figures of the database as Prometheus metric families, computed at each scrape."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from dicom_api.models import FINISHED_STATUSES
from dicom_api.selectors.metrics import Histogram, metrics_figures

PREFIX = "dicom_transfer_"


def _buckets(histogram: Histogram) -> list[tuple[str, float]]:
    return [(floatToGoString(bound), count) for bound, count in histogram.buckets]  # as prometheus-client writes them


class DatabaseCollector(Collector):
    """Transfers, queue, workers and imports, read from the database (correct across processes)."""

    def collect(self) -> Iterator[Metric]:
        figures = metrics_figures()
        label = ["destination"]
        transfers = CounterMetricFamily(
            PREFIX + "transfers", "Finished transfers by destination and outcome.", labels=["destination", "outcome"]
        )
        sent = CounterMetricFamily(PREFIX + "instances_sent", "Instances the destination stored.", labels=label)
        failed = CounterMetricFamily(
            PREFIX + "instances_failed", "Instances of finished transfers not stored.", labels=label
        )
        sent_bytes = CounterMetricFamily(
            PREFIX + "sent_bytes", "Bytes of the instances the destination stored (as imported).", labels=label
        )
        send_time = HistogramMetricFamily(
            PREFIX + "send_duration_seconds",
            "From a transfer's first attempt to its final outcome (success or failed), retries included.",
            labels=label,
        )
        queue_wait = HistogramMetricFamily(
            PREFIX + "queue_wait_seconds", "From a transfer's request to its first attempt.", labels=label
        )
        pending = GaugeMetricFamily(PREFIX + "queue_pending", "Transfers waiting to be sent.", labels=label)
        sending = GaugeMetricFamily(PREFIX + "transfers_sending", "Transfers being sent now.", labels=label)
        oldest = GaugeMetricFamily(
            PREFIX + "queue_oldest_pending_age_seconds",
            "Age of the oldest transfer waiting to be sent (0: none waits).",
            labels=label,
        )
        for name, destination in sorted(figures.destinations.items()):
            if destination.transfers:
                for status in FINISHED_STATUSES:
                    transfers.add_metric([name, str(status)], destination.transfers.get(str(status), 0))
                sent.add_metric([name], destination.instances_sent)
                failed.add_metric([name], destination.instances_failed)
                sent_bytes.add_metric([name], destination.bytes_sent)
            if destination.send_seconds is not None:
                send_time.add_metric([name], _buckets(destination.send_seconds), destination.send_seconds.total)
            if destination.queue_seconds is not None:
                queue_wait.add_metric([name], _buckets(destination.queue_seconds), destination.queue_seconds.total)
            pending.add_metric([name], destination.pending)
            sending.add_metric([name], destination.sending)
            oldest.add_metric([name], destination.oldest_pending_seconds)
        yield from (transfers, sent, failed, sent_bytes, send_time, queue_wait, pending, sending, oldest)

        workers = GaugeMetricFamily(PREFIX + "workers_alive", "Workers whose heartbeat is recent (all machines).")
        workers.add_metric([], figures.workers_alive)
        yield workers
        imports = CounterMetricFamily(PREFIX + "imports", "Imports by outcome.", labels=["outcome"])
        for outcome in ("success", "failed"):
            imports.add_metric([outcome], figures.imports.imports.get(outcome, 0))
        yield imports
        yield CounterMetricFamily(
            PREFIX + "imported_instances", "Instances stored by imports.", value=figures.imports.instances
        )
        yield CounterMetricFamily(PREFIX + "imported_bytes", "Bytes stored by imports.", figures.imports.bytes)
