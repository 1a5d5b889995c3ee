"""Whether this worker process has been asked to stop (SIGTERM, SIGINT: Ctrl-C of ``make run``).

``manage.py db_worker`` sets it from its signal handler; a transfer being sent sees it at its next
progress tick, stops dcmsend, writes the ledger and releases the transfer for the next worker
(``transfer_lifecycle.release``), instead of waiting for the send to end or dying half way.
"""

from __future__ import annotations

import threading

requested = threading.Event()
