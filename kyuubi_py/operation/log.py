"""Per-operation log: a bounded in-memory list of lines, read incrementally.

Clients read it with ``FetchResults(fetchType=1)``: FETCH_NEXT returns the lines not read yet (an
empty batch ends pyhive's log loop), FETCH_FIRST starts again from the oldest line still kept.
Lines beyond ``max_lines`` push the oldest out, so a chatty operation cannot grow without bound.
"""

from __future__ import annotations

import threading
import time
from collections import deque

#: Lines kept per operation; older lines are dropped first.
DEFAULT_MAX_LINES = 10_000


def _timestamp() -> str:
    now = time.time()
    millis = int(now * 1000) % 1000
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f".{millis:03d}"


class OperationLog:
    """Thread-safe: the running operation writes while a client thread reads."""

    def __init__(self, max_lines: int = DEFAULT_MAX_LINES) -> None:
        self._lines: deque[str] = deque(maxlen=max(1, max_lines))
        self._appended = 0  # lines ever appended: absolute index of the next line
        self._cursor = 0  # absolute index of the next line FETCH_NEXT returns
        self._closed = False
        self._lock = threading.Lock()

    def write(self, message: str, level: str = "INFO") -> None:
        """Append one entry (multi-line messages become several lines, as in a log file)."""
        stamp = _timestamp()
        with self._lock:
            if self._closed:
                return
            for line in message.splitlines() or [""]:
                self._lines.append(f"{stamp} {level} {line}")
                self._appended += 1

    def read(self, max_lines: int, from_start: bool = False) -> tuple[int, list[str]]:
        """``(offset, lines)``: up to ``max_lines`` unread lines (all kept lines are unread again
        after ``from_start``); ``offset`` is the absolute index of the first one."""
        with self._lock:
            oldest = self._appended - len(self._lines)
            if from_start or self._cursor < oldest:
                self._cursor = oldest
            start = self._cursor - oldest
            count = max(0, min(max_lines, len(self._lines) - start))
            lines = [self._lines[i] for i in range(start, start + count)]
            offset = self._cursor
            self._cursor += count
            return offset, lines

    @property
    def line_count(self) -> int:
        with self._lock:
            return len(self._lines)

    def close(self) -> None:
        """Free the lines; later writes are ignored and reads return nothing."""
        with self._lock:
            self._closed = True
            self._lines.clear()
            self._cursor = self._appended
