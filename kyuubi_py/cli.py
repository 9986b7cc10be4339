"""``kyuubi-py``: the command line. A thin shell over the ``run`` functions of each process.

    kyuubi-py server    [--conf k=v ...]   the gateway
    kyuubi-py engine    [--conf k=v ...]   a Spark SQL engine serving HiveServer2 itself
    kyuubi-py zookeeper [--conf k=v ...]   the embedded ZooKeeper, standalone

Configuration: built-in defaults < ``$KYUUBI_CONF_DIR/kyuubi-defaults.conf`` (or
``./conf/kyuubi-defaults.conf``) < ``--conf``. Subcommands import their module only when run, so
``kyuubi-py server`` never loads pyspark.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from kyuubi_py import __version__
from kyuubi_py.config.conf import KyuubiConf, load_conf
from kyuubi_py.errors import ConfigError
from kyuubi_py.log import configure_logging


def _run_server(conf: KyuubiConf) -> int:
    from kyuubi_py.server.main import run

    return run(conf)


def _run_engine(conf: KyuubiConf) -> int:
    from kyuubi_py.engine.spark.main import run

    return run(conf)


def _run_zookeeper(conf: KyuubiConf) -> int:
    from kyuubi_py.ha.embedded import run_embedded_zookeeper

    return run_embedded_zookeeper(conf)


COMMANDS: dict[str, tuple[str, Callable[[KyuubiConf], int]]] = {
    "server": ("run the gateway", _run_server),
    "engine": ("run a Spark SQL engine (HiveServer2 protocol)", _run_engine),
    "zookeeper": ("run the embedded ZooKeeper server", _run_zookeeper),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kyuubi-py", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"kyuubi_py {__version__}")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="default: INFO",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, _) in COMMANDS.items():
        command = commands.add_parser(name, help=help_text)
        command.add_argument(
            "--conf",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a configuration entry (repeatable)",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        conf = load_conf(args.conf)
    except ConfigError as exc:
        print(f"kyuubi-py: {exc}", file=sys.stderr)
        return 2
    return COMMANDS[args.command][1](conf)


if __name__ == "__main__":
    sys.exit(main())
