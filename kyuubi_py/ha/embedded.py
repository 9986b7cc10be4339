"""An embedded ZooKeeper: a real standalone server run as a Java subprocess from the ZooKeeper
jars that ship inside the pyspark wheel (``pyspark/jars``).

Used when ``kyuubi.ha.addresses`` is empty, by ``kyuubi-py zookeeper`` and by the tests. Its data
directory holds the generated ``zoo.cfg`` and ``log4j2.properties``, the snapshots (``data/``),
the server log (``zookeeper.log``) and the JVM's own output (``zookeeper.out``).
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import IO

from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import DiscoveryError
from kyuubi_py.ha.conf import (
    ZK_CLIENT_PORT,
    ZK_CLIENT_PORT_ADDRESS,
    ZK_DATA_DIR,
    ZK_MAX_CLIENT_CONNECTIONS,
    ZK_MAX_SESSION_TIMEOUT,
    ZK_MIN_SESSION_TIMEOUT,
    ZK_TICK_TIME,
)
from kyuubi_py.ha.zookeeper import ZooKeeperDiscoveryClient
from kyuubi_py.service.lifecycle import stop_signals

log = logging.getLogger(__name__)

MAIN_CLASS = "org.apache.zookeeper.server.ZooKeeperServerMain"
# A small heap and the serial collector: the server holds little data, and it shares a small
# machine with Spark.
_JVM_OPTIONS = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
_LOG_TAIL_LINES = 20

_LOG4J2_PROPERTIES = """\
status = error
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log}
appender.file.filePattern = {log}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{{ISO8601}} %-5p [%t] %c{{1}}: %m%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 10MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
"""


def pyspark_jars_dir() -> Path:
    """``pyspark/jars``, found without importing pyspark (which is slow and pulls in py4j)."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise DiscoveryError(
            "The embedded ZooKeeper needs the pyspark package (pip install pyspark)"
        )
    jars = Path(next(iter(spec.submodule_search_locations))) / "jars"
    if not any(jars.glob("zookeeper-*.jar")):
        raise DiscoveryError(f"No ZooKeeper jars in {jars}")
    return jars


def find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise DiscoveryError("The embedded ZooKeeper needs Java: set JAVA_HOME or put java on PATH")
    return found


class EmbeddedZooKeeper:
    """A standalone ZooKeeper server in a subprocess of its own process group."""

    def __init__(
        self,
        port: int,
        data_dir: Path,
        host: str = "127.0.0.1",
        *,
        tick_time_ms: int = 500,
        min_session_timeout_ms: int = 1000,
        max_session_timeout_ms: int = 120_000,
        max_client_connections: int = 0,
        classpath: str | None = None,
    ) -> None:
        self.port = port
        self.host = host
        self.data_dir = data_dir.absolute()
        self.tick_time_ms = tick_time_ms
        self.min_session_timeout_ms = min_session_timeout_ms
        self.max_session_timeout_ms = max_session_timeout_ms
        self.max_client_connections = max_client_connections
        self._classpath = classpath
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self._log_offset = 0

    @property
    def connect_string(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "zookeeper.log"

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- start -------------------------------------------------------------------------------
    def start(self, timeout_s: float = 60.0) -> None:
        """Launch the server; return once a real client session works on it."""
        if self._process is not None:
            raise DiscoveryError(f"The embedded ZooKeeper on {self.connect_string} is started")
        self._check_port_free()
        command = self._command(self._write_config())
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        self._output = (self.data_dir / "zookeeper.out").open("wb")
        log.info("Starting embedded ZooKeeper on %s in %s", self.connect_string, self.data_dir)
        self._process = subprocess.Popen(
            command,
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our terminal's Ctrl-C is ours to handle, not the JVM's
        )
        atexit.register(self.stop)
        try:
            self._wait_until_ready(time.monotonic() + timeout_s, timeout_s)
        except BaseException:
            self.stop()
            raise
        log.info(
            "Embedded ZooKeeper is ready at %s (pid %d)", self.connect_string, self._process.pid
        )

    def _check_port_free(self) -> None:
        # Otherwise the readiness check could succeed against whatever already holds the port.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # Java's server socket sets SO_REUSEADDR too, so TIME_WAIT leftovers do not count.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.host, self.port))
            except OSError as exc:
                raise DiscoveryError(
                    f"Cannot start the embedded ZooKeeper: {self.connect_string} is not available "
                    f"({exc.strerror}); another process may be using the port "
                    "(kyuubi.zookeeper.embedded.client.port)"
                ) from None

    def _write_config(self) -> Path:
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        config = {
            "tickTime": self.tick_time_ms,
            "dataDir": (self.data_dir / "data").as_posix(),
            "clientPort": self.port,
            "clientPortAddress": self.host,
            "maxClientCnxns": self.max_client_connections,
            "minSessionTimeout": self.min_session_timeout_ms,
            "maxSessionTimeout": self.max_session_timeout_ms,
            "admin.enableServer": "false",  # no Jetty, no port 8080
            "4lw.commands.whitelist": "ruok,stat,srvr,cons,mntr",
            "autopurge.snapRetainCount": 3,
            "autopurge.purgeInterval": 1,
        }
        path = self.data_dir / "zoo.cfg"
        path.write_text("".join(f"{k}={v}\n" for k, v in config.items()), encoding="utf-8")
        log4j = _LOG4J2_PROPERTIES.format(log=self.log_file.as_posix())
        (self.data_dir / "log4j2.properties").write_text(log4j, encoding="utf-8")
        return path

    def _command(self, config: Path) -> list[str]:
        classpath = self._classpath or f"{pyspark_jars_dir()}/*"
        log4j = (self.data_dir / "log4j2.properties").as_posix()
        return [
            find_java(),
            *_JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            classpath,
            MAIN_CLASS,
            str(config),
        ]

    def _wait_until_ready(self, deadline: float, timeout_s: float) -> None:
        assert self._process is not None
        while True:
            code = self._process.poll()
            if code is not None:
                raise self._failure(f"the server exited with code {code}")
            # The port answers before the server works (it even says "imok" when it cannot
            # serve), so only a real client session counts.
            if self._port_open() and self._session_works() and self._process.poll() is None:
                return
            if time.monotonic() > deadline:
                raise self._failure(f"it was not ready within {timeout_s:g} s")
            time.sleep(0.2)

    def _port_open(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def _session_works(self) -> bool:
        client = ZooKeeperDiscoveryClient(
            self.connect_string, session_timeout_s=10.0, connection_timeout_s=2.0
        )
        try:
            client.start()
            return client.get_data("/zookeeper") is not None
        except DiscoveryError:
            return False
        finally:
            client.stop()

    def _failure(self, reason: str) -> DiscoveryError:
        lines = self._tail(self.data_dir / "zookeeper.out", 0) + self._tail(
            self.log_file, self._log_offset
        )
        detail = "\n".join(lines[-_LOG_TAIL_LINES:]) or "(no output)"
        return DiscoveryError(
            f"The embedded ZooKeeper on {self.connect_string} failed to start: {reason}. "
            f"Last lines of its logs in {self.data_dir}:\n{detail}"
        )

    @staticmethod
    def _tail(path: Path, offset: int) -> list[str]:
        try:
            with path.open("rb") as file:
                file.seek(offset if offset <= path.stat().st_size else 0)
                return file.read().decode("utf-8", "replace").splitlines()[-_LOG_TAIL_LINES:]
        except OSError:
            return []

    # -- stop --------------------------------------------------------------------------------
    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the server's process group, SIGKILL it after ``grace_s``, and wait."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is not None:
            self._signal(process, signal.SIGTERM)
            try:
                process.wait(grace_s)
            except subprocess.TimeoutExpired:
                log.warning("Embedded ZooKeeper did not stop in %g s; killing it", grace_s)
                self._signal(process, signal.SIGKILL)
                process.wait()
            log.info("Embedded ZooKeeper on %s stopped", self.connect_string)
        if self._output is not None:
            self._output.close()
            self._output = None

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)  # its own group, by start_new_session

    def __enter__(self) -> EmbeddedZooKeeper:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def embedded_zookeeper_from_conf(conf: KyuubiConf) -> EmbeddedZooKeeper:
    """The embedded server as ``kyuubi.zookeeper.embedded.*`` describe it."""
    return EmbeddedZooKeeper(
        port=conf.get(ZK_CLIENT_PORT),
        data_dir=Path(conf.get(ZK_DATA_DIR)).expanduser(),
        host=conf.get(ZK_CLIENT_PORT_ADDRESS),
        tick_time_ms=max(1, round(conf.get(ZK_TICK_TIME) * 1000)),
        min_session_timeout_ms=round(conf.get(ZK_MIN_SESSION_TIMEOUT) * 1000),
        max_session_timeout_ms=round(conf.get(ZK_MAX_SESSION_TIMEOUT) * 1000),
        max_client_connections=conf.get(ZK_MAX_CLIENT_CONNECTIONS),
    )


def run_embedded_zookeeper(conf: KyuubiConf) -> int:
    """``kyuubi-py zookeeper``: run the embedded server until SIGINT or SIGTERM. Returns the exit
    status. Must be called on the main thread (it installs signal handlers)."""
    server = embedded_zookeeper_from_conf(conf)
    stop_requested = threading.Event()
    try:
        with stop_signals(lambda _signum: stop_requested.set()):
            server.start()
            print(f"ZooKeeper is ready at {server.connect_string}", flush=True)
            log.info("Embedded ZooKeeper logs to %s", server.log_file)
            while not stop_requested.wait(1.0):
                if not server.is_running:
                    log.error("Embedded ZooKeeper exited unexpectedly; see %s", server.log_file)
                    return 1
            return 0
    except DiscoveryError as exc:
        log.error("%s", exc)
        return 1
    finally:
        server.stop()
