"""Entry point of the Spark SQL engine: ``kyuubi-py engine`` and ``spark-submit main.py``.

The gateway launches engines as ``spark-submit [--conf spark.k=v ...] <this file> --conf
kyuubi.k=v ...``: spark-submit has configured the SparkSession already, so the script takes it
with ``getOrCreate()``. ``kyuubi-py engine`` builds it from the ``spark.*`` entries of its conf.
Once serving, one line ``kyuubi_py engine listening on <host>:<port>`` goes to stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run as a script by spark-submit: make the package importable, and keep this directory
    # (whose modules have generic names like conf.py) off the import path.
    sys.path[0] = str(Path(__file__).resolve().parents[3])
    # Before pyspark is first imported: the installed pyspark rather than spark-submit's zips.
    from kyuubi_py.engine.spark.python_path import without_bundled_zips

    sys.path[:] = without_bundled_zips(sys.path)

import argparse  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import threading  # noqa: E402
from collections.abc import Sequence  # noqa: E402

import pyspark  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402

from kyuubi_py.config import keys  # noqa: E402
from kyuubi_py.config.conf import KyuubiConf, load_conf  # noqa: E402
from kyuubi_py.engine.spark import py4j_converters  # noqa: E402
from kyuubi_py.errors import KyuubiError  # noqa: E402
from kyuubi_py.log import configure_logging  # noqa: E402
from kyuubi_py.service.lifecycle import stop_signals  # noqa: E402

log = logging.getLogger(__name__)

READY_LINE = "kyuubi_py engine listening on {host}:{port}"


def app_name(conf: KyuubiConf) -> str:
    """Kyuubi's ``kyuubi_<SHARE>_SPARK_SQL_<user>_<subdomain>_<refId>`` when launched by a
    gateway; a plain name when started by hand."""
    user, ref_id = conf.get(keys.ENGINE_USER), conf.get(keys.ENGINE_REF_ID)
    if not user or not ref_id:
        return "kyuubi_py engine"
    share = (conf.get(keys.ENGINE_SHARE_LEVEL) or "USER").upper()
    subdomain = conf.get(keys.ENGINE_SHARE_LEVEL_SUBDOMAIN) or "default"
    return f"kyuubi_py_{share}_SPARK_SQL_{user}_{subdomain}_{ref_id}"


def build_spark_session(conf: KyuubiConf) -> SparkSession:
    """A SparkSession from ``spark.master`` (default ``local[*]``) and every ``spark.*`` entry."""
    py4j_converters.install()
    builder = SparkSession.builder.master(conf.get(keys.SPARK_MASTER) or "local[*]")
    for key, value in conf.items():
        if key.startswith("spark.") and key != keys.SPARK_MASTER.key:
            builder = builder.config(key, value)
    if "spark.app.name" not in conf:
        builder = builder.appName(app_name(conf))
    return builder.getOrCreate()


def run(conf: KyuubiConf, spark: SparkSession | None = None) -> int:
    """Serve until stopped (signal, idle timeout, decommission); the exit status. Call on the
    main thread: it installs the SIGTERM/SIGINT handlers."""
    from kyuubi_py.engine.spark.engine import SparkSQLEngine

    configure_logging()
    log.info(
        "Python %s, pyspark %s from %s",
        platform.python_version(),
        pyspark.__version__,
        Path(pyspark.__file__).parent,
    )
    engine: SparkSQLEngine | None = None

    def request_stop(signum: int) -> None:
        if engine is None:
            raise SystemExit(128 + signum)  # still starting: nothing to stop gracefully
        engine.request_stop(f"signal {signum}")

    try:
        with stop_signals(request_stop):
            engine = SparkSQLEngine(spark or build_spark_session(conf))
            engine.initialize(conf)
            engine.start()
            print(READY_LINE.format(host=engine.host, port=engine.port), flush=True)
            while not engine.wait(1.0):
                pass
            return 0
    except KyuubiError as exc:
        log.error("The engine failed: %s", exc)
        return 1
    finally:
        if engine is not None:
            engine.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Script entry (spark-submit): ``--conf k=v`` pairs; the SparkSession already exists."""
    parser = argparse.ArgumentParser(prog="kyuubi_py engine")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    configure_logging()
    try:
        conf = load_conf(args.conf)
    except KyuubiError as exc:
        print(f"kyuubi_py engine: {exc}", file=sys.stderr)
        return 2
    return run(conf, spark_session_while_importing())


def spark_session_while_importing() -> SparkSession:
    """spark-submit's SparkSession, created on a helper thread while this one imports the
    engine (pyarrow, numpy, the Thrift code: about half a second) and warms up the result
    encoder: most of ``getOrCreate`` is the JVM building the SparkContext and the session, so
    the two overlap instead of adding up."""
    py4j_converters.install()
    created: list[SparkSession] = []
    failed: list[BaseException] = []

    def create() -> None:
        try:
            created.append(SparkSession.builder.getOrCreate())
        except BaseException as exc:  # noqa: BLE001 - re-raised on the main thread
            failed.append(exc)

    creator = threading.Thread(target=create, name="kyuubi-spark-session")
    creator.start()
    import kyuubi_py.engine.spark.engine  # noqa: F401 - the import is the point
    from kyuubi_py.engine.spark.initialize import warm_up_encoding

    warm_up_encoding()

    creator.join()
    if failed:
        raise failed[0]
    return created[0]


if __name__ == "__main__":
    sys.exit(main())
