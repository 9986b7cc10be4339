"""Launching an engine: the spark-submit command line as data, and the process it becomes.

:class:`EngineLaunchCommand` is pure: argv and environment are built as lists and maps, tested
without running anything, and handed to ``subprocess`` without a shell, so no value (``;``,
``$(id)``, a newline) is ever interpreted. The engine secret travels only in the environment.

Command line::

    spark-submit --master <m> --deploy-mode client --name <app name>
                 --conf spark.k=v ...            # every spark.* key of the session's conf
                 <kyuubi_py/engine/spark/main.py>
                 --conf kyuubi.k=v ...           # engine keys, read by our engine itself
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import kyuubi_py
from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.config.docs import load_all_entries
from kyuubi_py.config.entry import REGISTRY
from kyuubi_py.errors import EngineLaunchError
from kyuubi_py.ha.conf import HA_NAMESPACE, HA_ZK_SESSION_TIMEOUT
from kyuubi_py.server.engine_ref import EngineRef

log = logging.getLogger(__name__)

#: Spark keys the launcher sets itself (or gives as options), never taken from conf.
_OWN_SPARK_KEYS = frozenset(
    {
        "spark.master",
        "spark.submit.deploymode",
        "spark.app.name",
        "spark.pyspark.python",
        "spark.pyspark.driver.python",
    }
)
#: Variables of a PySpark driver that must not leak into the engine (it would attach to our JVM).
_DROPPED_ENV = ("PYSPARK_GATEWAY_PORT", "PYSPARK_GATEWAY_SECRET", "PYSPARK_SUBMIT_ARGS")
_REDACT_KEY = re.compile(r"(?i)secret|password|token|access[.]key")
REDACTED = "*********(redacted)"


def engine_main_file() -> str:
    """Path of the engine's entry script, found without importing the engine package."""
    return str(Path(kyuubi_py.__file__).resolve().parent / "engine" / "spark" / "main.py")


def engine_kyuubi_keys(conf: KyuubiConf) -> list[tuple[str, str]]:
    """The ``kyuubi.*`` entries of ``conf`` an engine may see: declared and not server-only.
    Undeclared or server-only keys (LDAP bind passwords, frontend settings...) stay here."""
    load_all_entries()  # so every declared key is known, whichever modules are imported
    passed = []
    for key, value in conf.items():
        entry = REGISTRY.get(key)
        if key.startswith("kyuubi.") and entry is not None and not entry.server_only:
            passed.append((entry.key, value))
    return passed


def engine_spark_confs(conf: KyuubiConf) -> list[tuple[str, str]]:
    return [
        (key, value)
        for key, value in conf.items()
        if key.startswith("spark.") and key.lower() not in _OWN_SPARK_KEYS
    ]


def _conf_args(pairs: Iterable[tuple[str, str]]) -> list[str]:
    args: list[str] = []
    for key, value in pairs:
        args += ["--conf", f"{key}={value}"]
    return args


@dataclass(frozen=True)
class EngineLaunchCommand:
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)
    app_name: str
    #: The engine's working directory (``None``: the gateway's).
    cwd: str | None = None

    @classmethod
    def build(
        cls,
        ref: EngineRef,
        conf: KyuubiConf,
        *,
        spark_submit: str,
        secret: str,
        ha_addresses: str,
        python: str = sys.executable,
        main_file: str | None = None,
        base_env: Mapping[str, str] | None = None,
        work_dir: str | None = None,
    ) -> EngineLaunchCommand:
        """``conf`` is the session's layered conf (server, per-user, session)."""
        own_spark = [("spark.pyspark.python", python), ("spark.pyspark.driver.python", python)]
        argv = [
            spark_submit,
            "--master",
            conf.get(keys.SPARK_MASTER) or "local[*]",
            "--deploy-mode",
            "client",
            "--name",
            ref.app_name,
            *_conf_args(engine_spark_confs(conf) + own_spark),
            main_file or engine_main_file(),
            *_conf_args(_app_confs(conf, _identity(ref, conf, ha_addresses))),
        ]
        env = _engine_env(base_env if base_env is not None else os.environ, ref, secret, python)
        return cls(tuple(argv), env, ref.app_name, work_dir)

    def redacted(self) -> str:
        """The command line for logs, with secret-looking values hidden."""
        return " ".join(_redact_arg(arg) for arg in self.argv)


def _app_confs(conf: KyuubiConf, identity: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The engine's kyuubi keys: from conf, except those the launcher sets, which come last."""
    own = {key for key, _ in identity}
    return [(k, v) for k, v in engine_kyuubi_keys(conf) if k not in own] + identity


def _identity(ref: EngineRef, conf: KyuubiConf, ha_addresses: str) -> list[tuple[str, str]]:
    """The keys that tell the engine who it is and where to register; they win over conf."""
    return [
        (keys.ENGINE_REF_ID.key, ref.ref_id),
        (keys.ENGINE_USER.key, ref.routing_user),
        (keys.ENGINE_SHARE_LEVEL.key, ref.share_level),
        (keys.ENGINE_SHARE_LEVEL_SUBDOMAIN.key, ref.subdomain),
        ("kyuubi.ha.addresses", ha_addresses),
        (HA_NAMESPACE.key, ref.namespace),
        (HA_ZK_SESSION_TIMEOUT.key, HA_ZK_SESSION_TIMEOUT.render(conf.get(HA_ZK_SESSION_TIMEOUT))),
        (
            keys.SESSION_ENGINE_IDLE_TIMEOUT.key,
            keys.SESSION_ENGINE_IDLE_TIMEOUT.render(conf.get(keys.SESSION_ENGINE_IDLE_TIMEOUT)),
        ),
    ]


def _engine_env(
    base: Mapping[str, str], ref: EngineRef, secret: str, python: str
) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k not in _DROPPED_ENV}
    env.update(
        {
            "SPARK_USER": ref.routing_user,
            keys.ENGINE_SECRET_ENV: secret,
            "PYSPARK_PYTHON": python,
            "PYSPARK_DRIVER_PYTHON": python,
        }
    )
    return env


def _redact_arg(arg: str) -> str:
    key, sep, _ = arg.partition("=")
    return f"{key}={REDACTED}" if sep and _REDACT_KEY.search(key) else arg


def redact_text(text: str, secret: str) -> str:
    """``text`` with the engine secret and ``key=value`` secrets hidden (for client errors)."""
    if secret:
        text = text.replace(secret, REDACTED)
    return re.sub(
        r"(?i)([\w.\-]*(?:secret|password|token|access[.]key)[\w.\-]*\s*[=:]\s*)\S+",
        lambda m: m.group(1) + REDACTED,
        text,
    )


# -- the process ------------------------------------------------------------------------------


class EngineProcess:
    """A launched spark-submit: its own process group, its output in its own log file."""

    def __init__(self, command: EngineLaunchCommand) -> None:
        self.command = command
        self.log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._reaper: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self, log_path: Path) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.command.cwd is not None:
            Path(self.command.cwd).mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        with log_path.open("ab") as output:
            try:
                self._process = subprocess.Popen(
                    list(self.command.argv),
                    env=dict(self.command.env),
                    cwd=self.command.cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # one group to kill: the JVM and its Python driver
                    close_fds=True,
                )
            except OSError as exc:
                raise EngineLaunchError(
                    f"Cannot run {self.command.argv[0]} to launch the engine: {exc.strerror} "
                    "(kyuubi.engine.spark.submit)"
                ) from None
        log.info(
            "Launched engine %s (pid %d): %s",
            self.command.app_name,
            self.pid,
            self.command.redacted(),
        )
        self._reaper = threading.Thread(
            target=self._reap, name=f"engine-reaper-{self.pid}", daemon=True
        )
        self._reaper.start()

    def _reap(self) -> None:
        # Waiting collects the exit status, so an engine that stops by itself (idle timeout)
        # leaves no zombie behind.
        assert self._process is not None
        code = self._process.wait()
        log.info("Engine %s (pid %d) exited with code %d", self.command.app_name, self.pid, code)

    def poll(self) -> int | None:
        """The exit code, or ``None`` while it runs."""
        return None if self._process is None else self._process.poll()

    def tail(self, lines: int, max_bytes: int = 256 * 1024) -> list[str]:
        """The last ``lines`` lines of the log (reading at most its last ``max_bytes``)."""
        if self.log_path is None:
            return []
        try:
            with self.log_path.open("rb") as file:
                size = file.seek(0, os.SEEK_END)
                file.seek(max(0, size - max_bytes))
                text = file.read().decode("utf-8", "replace")
        except OSError:
            return []
        return text.splitlines()[-lines:] if lines > 0 else []

    @property
    def alive(self) -> bool:
        """Whether any process of the engine's group still runs: its Python driver can outlive
        the spark-submit JVM that started it."""
        return self._process is not None and group_running(self._process.pid)

    def kill(self, grace_s: float = 5.0) -> None:
        """SIGTERM the process group; SIGKILL whatever of it is left after ``grace_s``."""
        if not self.alive:
            return
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while self.alive and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.alive:
            log.warning(
                "Engine %s did not stop in %g s; killing it", self.command.app_name, grace_s
            )
            self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        assert self._process is not None
        try:
            os.killpg(self._process.pid, sig)
        except ProcessLookupError:
            pass


def group_running(pgid: int) -> bool:
    """Whether a live (not zombie) process is in process group ``pgid``. Reads ``/proc`` where
    there is one: orphans of a dead group leader linger as zombies until init reaps them."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return any(_in_group_and_running(entry, pgid) for entry in proc.iterdir())


def _in_group_and_running(entry: Path, pgid: int) -> bool:
    if not entry.name.isdigit():
        return False
    try:
        stat = (entry / "stat").read_text()
    except OSError:
        return False
    # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after it.
    fields = stat.rsplit(")", 1)[-1].split()
    return len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z"


class LaunchLimiter:
    """``kyuubi.server.limit.engine.startup``: at most ``limit`` launches at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._permits = threading.BoundedSemaphore(limit)

    def acquire(self, timeout_s: float) -> None:
        if not self._permits.acquire(timeout=max(timeout_s, 0.0)):
            raise EngineLaunchError(
                f"Too many engines are starting on this gateway (kyuubi.server.limit.engine."
                f"startup={self.limit}); none was free within {timeout_s:g} s. Try again later.",
                "08004",
            )

    def release(self) -> None:
        self._permits.release()
