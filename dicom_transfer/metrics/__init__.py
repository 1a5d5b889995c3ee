"""``GET /metrics``: Prometheus' text format, behind a bearer token (``METRICS_TOKEN``).

Two sources (docs in README, "Metrics"):

- the database, read at each scrape (``collector.DatabaseCollector`` over
  ``dicom_api.selectors.metrics``): transfers, instances, bytes, send time and queue wait,
  queue depth, live workers, imports. The same from every web process on every machine;
- each web process's own counts of its requests (``http``), kept by prometheus-client's
  multiprocess mode in ``METRICS_DIR`` (one file per process) and summed over this machine's
  processes at each scrape.

Labels never carry patient data: a destination's name, an outcome, a view's URL name, a method
and a status code.
"""
