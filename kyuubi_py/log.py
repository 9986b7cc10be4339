"""Logging set-up shared by every process (gateway, engine, embedded ZooKeeper)."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s"
#: Third-party loggers that are chatty at INFO (py4j traces every call; pyspark logs a full JVM
#: stack trace at ERROR for each failing query, which the engine reports in one line itself).
_QUIET_LOGGERS = {
    "py4j": logging.WARNING,
    "kazoo": logging.WARNING,
    "SQLQueryContextLogger": logging.CRITICAL,
}


def configure_logging(level: str | None = None) -> None:
    """Log to stderr (stdout is for the one-line readiness messages). Idempotent: a second
    call without ``level`` keeps what the first one set."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
        root.setLevel((level or "INFO").upper())
    elif level is not None:
        root.setLevel(level.upper())
    for name, quiet_level in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet_level)
