"""A real Spark SQL engine in a subprocess (``python -m kyuubi_py.cli engine``), for tests.

The engine prints ``kyuubi_py engine listening on <host>:<port>`` once it serves; everything it
writes afterwards (stdout and stderr) goes to a log file, so its pipes never fill up.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

#: Lean Spark for a 2-core machine shared with other JVMs.
BASE_CONF: dict[str, str] = {
    "spark.master": "local[2]",
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.sql.shuffle.partitions": "2",
    "spark.driver.memory": "768m",
    "kyuubi.frontend.thrift.binary.bind.host": "127.0.0.1",
    "kyuubi.frontend.thrift.binary.bind.port": "0",
    # Short, so that the suite's pauses between calls go through idle connections without a
    # thread and their resumption on a new one (the default is 1 s).
    "kyuubi.frontend.thrift.worker.keepalive.time": "PT0.2S",
}
READY = re.compile(rb"kyuubi_py engine listening on (?P<host>\S+):(?P<port>\d+)")
START_TIMEOUT_S = 180.0


class EngineStartError(RuntimeError):
    pass


@dataclass
class EngineProcess:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    _drain: threading.Thread | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_exit(self, timeout_s: float) -> int | None:
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM (graceful stop), then SIGKILL of the whole process group."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            if self.wait_exit(timeout_s) is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        _kill_group_leftovers(self.process.pid)
        if self._drain is not None:
            self._drain.join(timeout=5)
        return int(self.process.returncode)


def _kill_group_leftovers(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _copy(source: IO[bytes], sink: IO[bytes]) -> None:
    for line in iter(source.readline, b""):
        sink.write(line)
        sink.flush()


def _wait_ready(
    process: subprocess.Popen[bytes], log: IO[bytes], timeout_s: float
) -> re.Match[bytes]:
    assert process.stdout is not None
    found: list[re.Match[bytes]] = []

    def scan() -> None:
        assert process.stdout is not None
        for line in iter(process.stdout.readline, b""):
            log.write(line)
            log.flush()
            match = READY.search(line)
            if match:
                found.append(match)
                return

    reader = threading.Thread(target=scan, name="engine-ready-scan", daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not found:
        raise EngineStartError("the engine did not report it was listening")
    return found[0]


def start_engine(
    log_path: Path,
    conf: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float = START_TIMEOUT_S,
) -> EngineProcess:
    """Start an engine with ``BASE_CONF`` overlaid by ``conf``; wait until it serves. It runs
    in the log's directory, with its Spark warehouse there too (not in the repository)."""
    workdir = log_path.parent
    merged = {**BASE_CONF, "spark.sql.warehouse.dir": str(workdir / "warehouse"), **(conf or {})}
    argv = [sys.executable, "-m", "kyuubi_py.cli", "engine"]
    for key, value in merged.items():
        argv += ["--conf", f"{key}={value}"]
    child_env = {k: v for k, v in os.environ.items() if k != "KYUUBI_ENGINE_SECRET"}
    child_env.update(env or {})
    log = open(log_path, "ab")  # noqa: SIM115 - closed by the drain thread's owner at exit
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=log, env=child_env, cwd=workdir, start_new_session=True
    )
    began = time.monotonic()
    try:
        match = _wait_ready(process, log, timeout_s)
    except EngineStartError:
        _kill_group_leftovers(process.pid)
        process.wait(timeout=10)
        tail = log_path.read_text(errors="replace")[-3000:]
        raise EngineStartError(
            f"engine not ready after {time.monotonic() - began:.0f}s; log tail:\n{tail}"
        ) from None
    assert process.stdout is not None
    drain = threading.Thread(
        target=_copy, args=(process.stdout, log), name="engine-stdout", daemon=True
    )
    drain.start()
    return EngineProcess(
        match.group("host").decode(), int(match.group("port")), process, log_path, drain
    )
