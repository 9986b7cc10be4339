"""A stand-in for spark-submit: records what the gateway runs, then does what its mode says.

:func:`install` writes an executable copy with its record directory and targets baked in. Each run
writes ``<record dir>/<ns>-<pid>.json`` (argv, env, cwd) and then, by the mode in
``<record dir>/mode`` (or the default mode):

- ``real``: ``exec`` the real spark-submit with the same arguments (a real Spark engine);
- ``fake``: ``exec`` :mod:`fake_engine` with the engine's app arguments (no Spark, ~1 s);
- ``fail``: print a Spark-like failure ending in ``Exception: boom`` and exit 1;
- ``hang``: never register (sleep).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

_SCRIPT = """#!{python}
import json, os, sys, time
RECORDS = {records!r}
argv = sys.argv[1:]
record = {{"argv": argv, "env": dict(os.environ), "cwd": os.getcwd(), "pid": os.getpid()}}
with open(os.path.join(RECORDS, "%d-%d.json" % (time.time_ns(), os.getpid())), "w") as out:
    json.dump(record, out)
mode_file = os.path.join(RECORDS, "mode")
mode = open(mode_file).read().strip() if os.path.exists(mode_file) else {default!r}
if mode == "fail":
    print("24/01/01 00:00:00 ERROR SparkContext: Error initializing SparkContext.", flush=True)
    print("Exception: boom", file=sys.stderr, flush=True)
    sys.exit(1)
if mode == "hang":
    time.sleep(3600)
if mode == "real":
    os.execv({real!r}, [{real!r}] + argv)
main = argv.index({main!r})
os.execv({python!r}, [{python!r}, {fake_engine!r}] + argv[main + 1:])
"""


@dataclass(frozen=True)
class FakeSubmit:
    path: Path
    records: Path

    def set_mode(self, mode: str | None) -> None:
        mode_file = self.records / "mode"
        if mode is None:
            mode_file.unlink(missing_ok=True)
        else:
            mode_file.write_text(mode)

    def runs(self) -> list[dict[str, object]]:
        """Every recorded run, oldest first."""
        files = sorted(self.records.glob("*.json"), key=lambda p: int(p.stem.split("-")[0]))
        return [json.loads(p.read_text()) for p in files]


def install(directory: Path, *, default_mode: str, real_submit: str, main_file: str) -> FakeSubmit:
    records = directory / "records"
    records.mkdir(parents=True, exist_ok=True)
    script = directory / "spark-submit"
    script.write_text(
        _SCRIPT.format(
            python=sys.executable,
            records=str(records),
            default=default_mode,
            real=real_submit,
            main=main_file,
            fake_engine=str(Path(__file__).with_name("fake_engine.py")),
        )
    )
    script.chmod(0o755)
    return FakeSubmit(script, records)
