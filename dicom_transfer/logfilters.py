"""Log hygiene: no raw control characters from user input ever reach a log line."""

from __future__ import annotations

import logging
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escape_control(text: str) -> str:
    """Replace CR, LF, ESC and every other control character by a visible escape."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class SafeTextFilter(logging.Filter):
    """Render the message once and escape control characters in it (and in the traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = escape_control(message)
        record.args = None
        return True
