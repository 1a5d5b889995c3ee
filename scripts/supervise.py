"""Keep a few processes running: start each, start again one that ends, stop all on SIGINT/SIGTERM.

    supervise.py --name web -- gunicorn ... --name worker-1 -- python manage.py db_worker ...

What `make run` (scripts/run.sh) runs in the foreground. Each process gets its own process group,
so a Ctrl-C in the terminal reaches only this supervisor, which then stops the processes in
order: SIGTERM to each at once (gunicorn finishes its requests, a worker stops between jobs or
releases its transfer), and SIGKILL to the process group of any still running after
``--stop-timeout`` seconds. A second Ctrl-C kills at once.

If the supervisor itself is killed (SIGKILL, out of memory), each process gets SIGTERM from the
kernel (its parent-death signal) and stops as it would on Ctrl-C.

A process that ends on its own (crash, SIGKILL, out of memory) is started again at once, and its
process group is killed first so that nothing it left (gunicorn's orphaned workers holding the
port, a dcmsend) stands in the way. One that keeps dying within a second of its start is started
again after a growing pause of at most 4 s, so a broken configuration does not spin.

supervisord would do the same, but its 1 s event loop made a stop take over 4 s; this loop sleeps
in ``select`` on a signal wake-up pipe, so it reacts at once and costs nothing while idle.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

QUICK_DEATH = 1.0  # a process that ends this soon after its start is restarted after a pause
MAX_PAUSE = 4.0


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} supervise: {message}", file=sys.stderr, flush=True)


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_deaths: int = 0
    restart_at: float = 0.0
    exits: list[int] = field(default_factory=list)

    def start(self) -> int:
        # Its own process group: the terminal's Ctrl-C reaches the supervisor only. Through
        # util-linux's setpriv, SIGTERM when the supervisor dies, even by SIGKILL: it then stops
        # as on Ctrl-C, and no orphaned web process keeps the port from the next start.
        setpriv = shutil.which("setpriv")
        argv = [setpriv, "--pdeathsig", "TERM", "--", *self.argv] if setpriv else self.argv
        self.process = subprocess.Popen(argv, start_new_session=True)
        self.started_at = time.monotonic()
        return self.process.pid

    def signal_group(self, signum: int) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signum)


def parse(argv: list[str]) -> tuple[list[Child], float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stop-timeout", type=float, default=3.0)
    first = argv.index("--name") if "--name" in argv else len(argv)
    options = parser.parse_args(argv[:first])
    rest = argv[first:]
    children: list[Child] = []
    while rest:
        if len(rest) < 3 or rest[0] != "--name" or rest[2] != "--":
            parser.error("expected: --name NAME -- COMMAND ... [--name NAME -- COMMAND ...]")
        name, rest = rest[1], rest[3:]
        end = rest.index("--name") if "--name" in rest else len(rest)
        command, rest = rest[:end], rest[end:]
        if not command:
            parser.error(f"no command for {name}")
        children.append(Child(name=name, argv=command))
    if not children:
        parser.error("nothing to supervise")
    return children, options.stop_timeout


def main(argv: list[str]) -> int:
    children, stop_timeout = parse(argv)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    stop_requests = 0

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stop_requests
        stop_requests += 1

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGHUP, request_stop)
    signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)  # only wakes the select below

    def sleep(seconds: float) -> None:
        with contextlib.suppress(InterruptedError):
            select.select([wake_read], [], [], max(seconds, 0))
        with contextlib.suppress(BlockingIOError):
            while os.read(wake_read, 512):
                pass

    for child in children:
        child.start()

    while not stop_requests:
        now = time.monotonic()
        pause = 5.0
        for child in children:
            if child.process is None:
                if now >= child.restart_at:
                    log(f"{child.name} started again (pid {child.start()})")
                else:
                    pause = min(pause, child.restart_at - now)
                continue
            code = child.process.poll()
            if code is None:
                continue
            how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
            log(f"{child.name} (pid {child.process.pid}) {how}; starting it again")
            child.signal_group(signal.SIGKILL)  # what it left behind: orphaned children, the port
            quick = now - child.started_at < QUICK_DEATH
            child.quick_deaths = child.quick_deaths + 1 if quick else 0
            child.process = None
            child.restart_at = now + min(0.5 * 2 ** (child.quick_deaths - 1), MAX_PAUSE) if quick else now
            pause = 0
        if pause:
            sleep(pause)

    running = [child for child in children if child.process is not None and child.process.poll() is None]
    for child in running:
        assert child.process is not None
        with contextlib.suppress(ProcessLookupError):
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + stop_timeout
    while running and time.monotonic() < deadline and stop_requests < 2:
        sleep(deadline - time.monotonic())
        running = [child for child in running if child.process is not None and child.process.poll() is None]
    for child in running:
        log(f"{child.name} did not stop within {stop_timeout:g} s; killing it")
    for child in children:
        # Everything of every group, including what a process that did stop left behind.
        child.signal_group(signal.SIGKILL)
        if child.process is not None:
            child.process.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
