"""Entry point: ``python -m bench.run [--quick] [--scenarios B1,B2,...] [--out PATH]``.

Runs the micro-benchmarks first (no JVM running yet, so nothing else competes for the cores),
then starts the peers the selected scenarios need, runs the scenarios one by one, and always
stops every process it started. Each scenario's failure is recorded in the report; the report
(JSON) is rewritten after every scenario, so an interrupted run still leaves its numbers.

Exit status: 0 when the run completed (whatever the verdicts, unless ``--strict``), 1 when
M3 (fastbinary) failed or, with ``--strict``, any target failed, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from bench import procs, report
from bench.peers import PeerSet
from bench.scenarios import EXTRA_USERS, FULL, QUICK, SCENARIOS, Context, Scenario

log = logging.getLogger("bench")

DEFAULT_OUT = Path(__file__).parent / "results" / "latest.json"
# A scenario starting after this much wall time is skipped: a run must end in bounded time
# even when a peer makes everything slow (the budgets: full 20 min, quick about 4 min).
BUDGET_S = {"full": 17 * 60.0, "quick": 6 * 60.0}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (about 4 minutes)")
    parser.add_argument(
        "--scenarios",
        default="all",
        help=f"comma-separated ids (default all): {','.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--peers",
        default="all",
        help="comma-separated subset of gateway,direct,relay,sts to start (default all)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON report path")
    parser.add_argument("--workdir", type=Path, help="logs and peer data (default: a temp dir)")
    parser.add_argument("--keep-workdir", action="store_true", help="keep logs after success")
    parser.add_argument("--strict", action="store_true", help="exit 1 if any target FAILs")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def select(spec: str) -> list[Scenario]:
    if spec.strip().lower() == "all":
        return list(SCENARIOS.values())
    wanted = [part.strip().upper() for part in spec.split(",") if part.strip()]
    unknown = [part for part in wanted if part not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    # Registry order, not command-line order: it is the order the suite is designed for.
    return [scenario for scenario in SCENARIOS.values() if scenario.id in wanted]


def run_scenario(scenario: Scenario, ctx: Context) -> dict[str, Any]:
    log.info("=== %s %s", scenario.id, scenario.name)
    started = time.monotonic()
    entry: dict[str, Any] = {"name": scenario.name}
    try:
        entry["results"] = scenario.run(ctx)
        entry["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
        log.exception("%s failed", scenario.id)
        entry["status"] = "error"
        entry["error"] = f"{type(exc).__name__}: {exc}"
        entry["traceback"] = traceback.format_exc()[-4000:]
    entry["duration_s"] = round(time.monotonic() - started, 2)
    log.info("=== %s done in %.1f s (%s)", scenario.id, entry["duration_s"], entry["status"])
    return entry


def peer_info(peer_set: PeerSet | None) -> dict[str, Any]:
    if peer_set is None:
        return {}
    return {
        name: {
            "host": peer.host,
            "port": peer.port,
            "pid": peer.proc.pid if peer.proc else None,
            "ready_s": peer.ready_s,
            "rss_at_start_kb": peer.rss_at_start_kb,
            "error": peer.error,
        }
        for name, peer in peer_set.peers.items()
    }


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _setup_logging(workdir: Path, verbose: bool) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    handlers.append(logging.FileHandler(workdir / "bench.log"))
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
    )


class Run:
    """One benchmark run: scenarios, peers, and the report written as it goes."""

    def __init__(self, args: argparse.Namespace, scenarios: list[Scenario], workdir: Path):
        self.args = args
        self.mode = "quick" if args.quick else "full"
        self.scenarios = scenarios
        self.ctx = Context(QUICK if args.quick else FULL, workdir)
        self.started_wall = time.time()
        self.started = time.monotonic()
        self.load_at_start = list(os.getloadavg())

    def execute(self) -> None:
        micro = [s for s in self.scenarios if not s.peers]
        real = [s for s in self.scenarios if s.peers]
        try:
            for scenario in micro:
                self._run(scenario)
            if real:
                self._start_peers(real)
                for scenario in real:
                    self._run(scenario)
        finally:
            if self.ctx.peers is not None:
                self.ctx.peers.stop()
            procs.kill_all()

    def _start_peers(self, scenarios: list[Scenario]) -> None:
        needed = sorted({name for scenario in scenarios for name in scenario.peers})
        if self.args.peers.strip().lower() != "all":
            allowed = {part.strip().lower() for part in self.args.peers.split(",")}
            needed = [name for name in needed if name in allowed]
        sizes = self.ctx.sizes
        self.ctx.peers = PeerSet(self.ctx.workdir / "peers", sizes.table_rows, sizes.stream_rows)
        started = time.monotonic()
        # Users with engines of their own (B6 with 4 users, B9) are launched with the peers.
        multi_user = {"B6", "B9"} & {scenario.id for scenario in scenarios}
        gateway_users = list(EXTRA_USERS) if multi_user else []
        log.info("starting peers %s (extra gateway users: %s)", needed, gateway_users)
        self.ctx.peers.start(needed, gateway_users)
        log.info(
            "peers ready in %.1f s; errors: %s", time.monotonic() - started, self.ctx.peers.errors()
        )

    def _run(self, scenario: Scenario) -> None:
        elapsed = time.monotonic() - self.started
        if elapsed > BUDGET_S[self.mode]:
            self.ctx.results[scenario.id] = {
                "name": scenario.name,
                "status": "skipped",
                "error": f"time budget exhausted ({elapsed:.0f} s elapsed)",
            }
        else:
            self.ctx.results[scenario.id] = run_scenario(scenario, self.ctx)
        self.write()

    def report(self) -> dict[str, Any]:
        return report.build_report(
            self.ctx.results,
            mode=self.mode,
            started=self.started_wall,
            peers=peer_info(self.ctx.peers),
            argv=sys.argv[1:],
            load_at_start=self.load_at_start,
        )

    def write(self) -> dict[str, Any]:
        data = self.report()
        report.write_json(data, self.args.out)
        return data


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = select(args.scenarios)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kyuubi-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    _setup_logging(workdir, args.verbose)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    procs.become_subreaper()
    if not report.bytecode_compiled():
        log.warning("kyuubi_py has no up-to-date bytecode: run `make bytecode` (see the Makefile)")
    run = Run(args, scenarios, workdir)
    interrupted = False
    try:
        run.execute()
    except KeyboardInterrupt:
        interrupted = True
        log.error("interrupted; every started process was stopped")
    data = run.write()
    print(report.markdown(data))
    print(f"\nJSON report: {args.out}\nlogs: {workdir}")
    failed = any(entry.get("status") == "error" for entry in run.ctx.results.values())
    if not (args.keep_workdir or args.workdir or failed or interrupted):
        shutil.rmtree(workdir, ignore_errors=True)
        print("(logs removed: the run succeeded; --keep-workdir keeps them)")
    fastbinary = next((t for t in data["targets"] if t["id"] == "M3.fastbinary"), None)
    if fastbinary is not None and fastbinary["verdict"] == "FAIL":
        return 1
    if args.strict and data["summary"]["FAIL"]:
        return 1
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
