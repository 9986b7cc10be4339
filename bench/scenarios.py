"""Scenarios B1-B9 (real peers) and M1-M4 (micro), each returning a dict of raw numbers.

Conventions shared by every B scenario:

* Peers are interleaved round by round (A, B, C, then B, C, A, ...) so drift and the other
  tenants of the machine hit all of them alike; warm-up rounds are run and discarded.
* A peer that fails inside a scenario is recorded under ``errors`` and dropped from the later
  rounds; the other peers carry on. A scenario that fails as a whole is recorded by the runner.
* Latencies are client-side wall times; RSS and CPU come from /proc of the server processes.
"""

from __future__ import annotations

import gc
import logging
import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import micro, procs
from bench.clients import FetchStats, Session, pyhive_query
from bench.peers import MAIN_USER, TABLE_1M, TABLE_10M, GatewayPeer, Peer, PeerSet
from bench.stats import median, spread, summarize
from kyuubi_py.protocol.tcli import ttypes

log = logging.getLogger(__name__)

ALL_PEERS = ("gateway", "gateway_shared", "direct", "relay", "sts")
INCREMENTAL_CONF = {"kyuubi.operation.incremental.collect": "true"}
EXTRA_USERS = ("bench_u1", "bench_u2", "bench_u3")


@dataclass(frozen=True)
class Sizes:
    """How much of everything a run does; ``FULL`` follows performance.md section 7."""

    quick: bool
    rpc_warmup: int = 500
    rpc_calls: int = 5000
    rpc_chunk: int = 500
    select1_warmup: int = 20
    #: The gateway's share of a 3 to 5 ms cycle is a few percent, about the spread of a p50 of
    #: 200 cycles between runs; 500 narrow it by about a third (about 40 s more per full run).
    select1_calls: int = 500
    #: Small: an engine's speed drifts over seconds (JIT, GC, neighbours on 2 cores), and a long
    #: block of one peer's cycles would catch the drift instead of the peer's cost.
    select1_chunk: int = 5
    connect_warmup: int = 20
    connect_calls: int = 200
    connect_chunk: int = 20
    table_rows: int = 1_000_000
    bulk_max_rows: tuple[int, ...] = (10_000, 100_000)
    #: Untimed runs of the B3 query per engine before any pass (see ``_warm_engines``).
    bulk_engine_warmup: int = 20
    bulk_warmup_rounds: int = 1
    bulk_rounds: int = 9
    pyhive_peers: tuple[str, ...] = ("gateway", "direct", "sts")
    cold_runs: int = 5
    load_levels: tuple[int, ...] = (50, 100, 200)
    load_users: tuple[int, ...] = (1, 4)
    load_warmup_s: float = 2.0
    load_measure_s: float = 8.0
    idle_sessions: int = 200
    stream_rows: int = 10_000_000
    stream_peers: tuple[str, ...] = ("gateway", "direct")
    fairness_warmup_rounds: int = 1
    fairness_rounds: int = 5
    m1_rows: int = 1_000_000
    m2_bytes: int = 2 << 30


FULL = Sizes(quick=False)
QUICK = Sizes(
    quick=True,
    rpc_warmup=50,
    rpc_calls=500,
    rpc_chunk=100,
    select1_warmup=5,
    select1_calls=50,
    connect_warmup=5,
    connect_calls=50,
    connect_chunk=10,
    bulk_engine_warmup=3,
    bulk_rounds=1,
    pyhive_peers=("gateway",),
    cold_runs=1,
    load_levels=(20, 50),
    load_warmup_s=1.0,
    load_measure_s=4.0,
    idle_sessions=100,
    stream_rows=2_000_000,
    stream_peers=("gateway",),
    fairness_rounds=1,
    m2_bytes=512 << 20,
)


@dataclass
class Context:
    sizes: Sizes
    workdir: Path
    peers: PeerSet | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    def peer_set(self) -> PeerSet:
        if self.peers is None:
            raise RuntimeError("no peers were started")
        return self.peers


# ---------------------------------------------------------------------------- helpers


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def round_order(items: Sequence[str], index: int) -> list[str]:
    """The peers' order in round ``index``: a shuffle seeded by the index (reproducible). A
    rotation would keep each peer's predecessor fixed, and an engine that sat idle through the
    turns before answers its first calls slower: with a rotation, the peer after another
    engine's peers always paid that, whoever it was."""
    order = list(items)
    random.Random(index).shuffle(order)
    return order


@contextmanager
def gc_paused() -> Iterator[None]:
    """No client-side garbage collection inside timed loops: a collection pause would be
    charged to whichever server happened to be measured at that moment."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def interleave(
    names: Sequence[str],
    plan: Sequence[tuple[int, bool]],
    body: Callable[[str, int, bool], None],
    errors: dict[str, str],
) -> None:
    """Run ``body(name, n, record)`` for each round of ``plan`` (``(n, record)`` pairs) and
    each peer, in a new order every round (:func:`round_order`). A peer whose body raises is
    dropped."""
    for index, (count, record) in enumerate(plan):
        for name in round_order(names, index):
            if name in errors:
                continue
            try:
                body(name, count, record)
            except Exception as exc:  # noqa: BLE001 - the other peers carry on
                log.warning("%s failed: %s", name, describe(exc))
                errors[name] = describe(exc)


def round_plan(warmup: int, total: int, chunk: int) -> list[tuple[int, bool]]:
    """One discarded warm-up round, then ``total`` calls in rounds of ``chunk``."""
    rounds = [(chunk, True)] * max(1, total // chunk)
    return [(warmup, False), *rounds] if warmup else rounds


def open_sessions(
    peers: Sequence[Peer], errors: dict[str, str], **kwargs: Any
) -> dict[str, Session]:
    sessions: dict[str, Session] = {}
    for peer in peers:
        try:
            sessions[peer.name] = peer.session(**kwargs)
        except Exception as exc:  # noqa: BLE001
            errors[peer.name] = f"OpenSession: {describe(exc)}"
    return sessions


def close_all(sessions: dict[str, Session]) -> None:
    for session in sessions.values():
        try:
            session.close()
        except Exception:  # noqa: BLE001 - a broken session is already closed
            pass


def unavailable(ctx: Context, names: Sequence[str]) -> dict[str, str]:
    """Why each wanted peer is missing (start failure or not started at all)."""
    peer_set = ctx.peer_set()
    missing: dict[str, str] = {}
    for name in names:
        peer = peer_set.peers.get(name)
        if peer is None:
            missing[name] = "not started"
        elif not peer.alive():
            missing[name] = peer.error or "not running"
    return missing


def wanted_peers(ctx: Context, names: Sequence[str]) -> tuple[list[Peer], dict[str, str]]:
    errors = unavailable(ctx, names)
    return ctx.peer_set().available(names), errors


# ---------------------------------------------------------------------------- B1


def b1_rpc_overhead(ctx: Context) -> dict[str, Any]:
    """GetOperationStatus (relayed by the gateway) and GetInfo (answered by it) on one
    persistent session per peer; each call timed alone, microseconds."""
    sizes = ctx.sizes
    peers, errors = wanted_peers(ctx, ALL_PEERS)
    sessions = open_sessions(peers, errors)
    requests: dict[str, dict[str, Any]] = {}
    for name, session in sessions.items():
        op = session.execute("SELECT 1")
        session.wait(op)
        requests[name] = {
            "GetOperationStatus": ttypes.TGetOperationStatusReq(op),
            "GetInfo": ttypes.TGetInfoReq(session.handle, ttypes.TGetInfoType.CLI_SERVER_NAME),
        }
        session.status(op)
        session.get_info()  # both answer SUCCESS, checked once outside the timed loop
    samples: dict[str, dict[str, list[float]]] = {
        name: {method: [] for method in requests[name]} for name in requests
    }

    def body(name: str, count: int, record: bool) -> None:
        call_raw = sessions[name].conn.call_raw
        for method, req in requests[name].items():
            out = samples[name][method]
            for _ in range(count):
                start = time.perf_counter_ns()
                call_raw(method, req)
                elapsed = time.perf_counter_ns() - start
                if record:
                    out.append(elapsed / 1e3)

    try:
        with gc_paused():
            plan = round_plan(sizes.rpc_warmup, sizes.rpc_calls, sizes.rpc_chunk)
            interleave(list(requests), plan, body, errors)
    finally:
        close_all(sessions)
    return {
        "unit": "us",
        "calls": sizes.rpc_calls,
        "warmup": sizes.rpc_warmup,
        "peers": {
            name: {method: summarize(values) for method, values in by_method.items()}
            for name, by_method in samples.items()
            if name not in errors
        },
        "errors": errors,
    }


# ---------------------------------------------------------------------------- B2


#: The two passes of B2 and B3. Each engine serves exactly one peer of the first, so the gateway's
#: engine and the direct engine see the same load pattern (an engine idle through the other
#: peers' turns answers its first calls slower: sharing the direct engine with gateway_shared and
#: relay in the same rounds kept it busier than the gateway's own). The second pass puts the
#: gateway in front of the direct engine itself, next to the engine direct and the plain relay.
OWN_ENGINE_PEERS = ("gateway", "direct", "sts")
SAME_ENGINE_PEERS = ("gateway_shared", "direct", "relay")


#: A one-row statement that needs a Spark job on every peer. Our engine answers SELECT 1 on the
#: driver (a constant), STS runs a job for it; this pass shows what a statement with a job costs.
ONE_ROW_JOB = "SELECT id FROM range(1)"


def b2_select1_latency(ctx: Context) -> dict[str, Any]:
    """Full SELECT 1 cycle: ExecuteStatement(runAsync) + status polls + metadata + fetch +
    CloseOperation, milliseconds; one pass per peer group of :data:`OWN_ENGINE_PEERS` and
    :data:`SAME_ENGINE_PEERS`, and a pass of :data:`ONE_ROW_JOB` over the first group."""
    own = _select1_pass(ctx, OWN_ENGINE_PEERS)
    same = _select1_pass(ctx, SAME_ENGINE_PEERS)
    job = _select1_pass(ctx, OWN_ENGINE_PEERS, ONE_ROW_JOB)
    return {
        "unit": "ms",
        "peers": own["peers"],
        "steps_p50_ms": own["steps_p50_ms"],
        "same_engine_peers": same["peers"],
        "same_engine_steps_p50_ms": same["steps_p50_ms"],
        "one_row_job_statement": ONE_ROW_JOB,
        "one_row_job_peers": job["peers"],
        "errors": {**job["errors"], **same["errors"], **own["errors"]},
    }


def _select1_pass(
    ctx: Context, names: Sequence[str], statement: str = "SELECT 1"
) -> dict[str, Any]:
    sizes = ctx.sizes
    peers, errors = wanted_peers(ctx, names)
    sessions = open_sessions(peers, errors)
    samples: dict[str, list[float]] = {name: [] for name in sessions}
    steps: dict[str, dict[str, list[float]]] = {name: {} for name in sessions}

    def body(name: str, count: int, record: bool) -> None:
        session = sessions[name]
        for _ in range(count):
            start = time.perf_counter()
            session.select1_cycle(steps[name] if record else None, statement)
            if record:
                samples[name].append((time.perf_counter() - start) * 1e3)

    try:
        with gc_paused():
            plan = round_plan(sizes.select1_warmup, sizes.select1_calls, sizes.select1_chunk)
            interleave(list(sessions), plan, body, errors)
    finally:
        close_all(sessions)
    return {
        "peers": {name: summarize(v) for name, v in samples.items() if name not in errors},
        "steps_p50_ms": {
            name: {step: median(values) for step, values in by_step.items()}
            for name, by_step in steps.items()
            if name not in errors and by_step
        },
        "errors": errors,
    }


# ---------------------------------------------------------------------------- B5


def b5_warm_connect(ctx: Context) -> dict[str, Any]:
    """TCP connect + SASL PLAIN + OpenSession + CloseSession against a running engine, ms."""
    sizes = ctx.sizes
    peers, errors = wanted_peers(ctx, ALL_PEERS)
    by_name = {peer.name: peer for peer in peers}
    samples: dict[str, list[float]] = {name: [] for name in by_name}

    def body(name: str, count: int, record: bool) -> None:
        peer = by_name[name]
        for _ in range(count):
            start = time.perf_counter()
            Session(peer.host, peer.port, peer.user, timeout_s=60.0).close()
            if record:
                samples[name].append((time.perf_counter() - start) * 1e3)

    with gc_paused():
        plan = round_plan(sizes.connect_warmup, sizes.connect_calls, sizes.connect_chunk)
        interleave(list(by_name), plan, body, errors)
    return {
        "unit": "ms",
        "peers": {name: summarize(v) for name, v in samples.items() if name not in errors},
        "errors": errors,
    }


# ---------------------------------------------------------------------------- CPU accounting


def server_cpu_pids(ctx: Context, name: str, user: str = MAIN_USER) -> dict[str, int]:
    """Process trees charged for a query on peer ``name``: ``proxy`` is what sits between the
    client and the engine (gateway or relay), ``engine`` the Spark side (tree: Python + JVM)."""
    peer_set = ctx.peer_set()
    pids: dict[str, int] = {}
    if name == "gateway":
        gateway = peer_set.gateway()
        if gateway and gateway.proc:
            pids["proxy"] = gateway.proc.pid
            engine = gateway.engine_pid(user)
            if engine:
                pids["engine"] = engine
    elif name in ("relay", "gateway_shared"):
        # Both sit in front of the direct engine.
        proxy, direct = peer_set.get(name), peer_set.get("direct")
        if proxy and proxy.proc:
            pids["proxy"] = proxy.proc.pid
        if direct and direct.proc:
            pids["engine"] = direct.proc.pid
    else:
        peer = peer_set.get(name)
        if peer and peer.proc:
            pids["engine"] = peer.proc.pid
    return pids


def _cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    snapshot = {"client": time.process_time()}
    for role, pid in pids.items():
        # Proxies are single processes; engines are trees (Python driver + JVM).
        value = procs.cpu_seconds(pid) if role == "proxy" else procs.tree_cpu_seconds(pid)
        if value is not None:
            snapshot[role] = value
    return snapshot


def timed_query(
    ctx: Context, name: str, session: Session, sql: str, max_rows: int, **kwargs: Any
) -> dict[str, Any]:
    """One query with the CPU seconds each server process spent on it."""
    pids = server_cpu_pids(ctx, name)
    before = _cpu_snapshot(pids)
    stats = session.query(sql, max_rows, **kwargs)
    after = _cpu_snapshot(pids)
    cpu = {role: after[role] - before[role] for role in before if role in after}
    return {**run_record(stats), "cpu_s": cpu}


def run_record(stats: FetchStats) -> dict[str, Any]:
    return {
        "rows": stats.rows,
        "bytes": stats.bytes,
        "frames": stats.frames,
        "largest_frame": stats.largest_frame,
        "execute_s": stats.execute_s,
        "fetch_s": stats.fetch_s,
        "total_s": stats.total_s,
    }


def summarize_runs(runs: list[dict[str, Any]], rows: int) -> dict[str, Any]:
    """Medians of timed runs and the derived rates (rows/s, MB/s) and CPU shares."""
    if not runs:
        return {"runs": []}
    total = median([run["total_s"] for run in runs])
    summary: dict[str, Any] = {
        "runs": runs,
        "median_total_s": total,
        "median_execute_s": median([run["execute_s"] for run in runs]),
        "median_fetch_s": median([run["fetch_s"] for run in runs]),
        "rows_per_s": rows / total if total else None,
        "mb_per_s": median([run["bytes"] for run in runs]) / total / 1e6 if total else None,
        "frames": runs[-1]["frames"],
        "largest_frame": max(run["largest_frame"] for run in runs),
    }
    for role in ("proxy", "engine", "client"):
        values = [run["cpu_s"][role] for run in runs if role in run.get("cpu_s", {})]
        if values:
            summary[f"median_cpu_{role}_s"] = median(values)
    if "median_cpu_proxy_s" in summary and summary.get("median_cpu_engine_s"):
        summary["proxy_cpu_share_of_engine"] = (
            summary["median_cpu_proxy_s"] / summary["median_cpu_engine_s"]
        )
    return summary


# ---------------------------------------------------------------------------- B3


def b3_bulk_fetch(ctx: Context) -> dict[str, Any]:
    """``SELECT *`` of the cached 1 M x 10 table, ExecuteStatement to the empty fetch, raw
    frames, in the two passes of :data:`OWN_ENGINE_PEERS` and :data:`SAME_ENGINE_PEERS`; then
    one fastbinary-decoding run per peer and PyHive runs."""
    peers, errors = wanted_peers(ctx, ALL_PEERS)
    sessions = open_sessions(peers, errors, timeout_s=600.0)
    sql = f"SELECT * FROM {TABLE_1M}"
    by_rows: dict[str, dict[str, Any]] = {}
    same_by_rows: dict[str, dict[str, Any]] = {}
    try:
        _warm_engines(ctx, sessions, sql, errors)
        # Both passes of one peer group before the other: the direct engine also serves the
        # second group, and extra runs there would warm it ahead of the gateway's engine.
        for group, out in ((OWN_ENGINE_PEERS, by_rows), (SAME_ENGINE_PEERS, same_by_rows)):
            wanted = {name: sessions[name] for name in group if name in sessions}
            for max_rows in ctx.sizes.bulk_max_rows:
                out[str(max_rows)] = _bulk_pass(ctx, wanted, sql, max_rows, errors)
        decoded = _decoded_runs(ctx, sessions, sql, errors)
    finally:
        close_all(sessions)
    return {
        "rows": ctx.sizes.table_rows,
        "max_rows": by_rows,
        "same_engine_max_rows": same_by_rows,
        "decoded": decoded,
        "pyhive": _pyhive_runs(ctx, sql),
        "errors": errors,
    }


def _warm_engines(
    ctx: Context, sessions: dict[str, Session], sql: str, errors: dict[str, str]
) -> None:
    """Run the query ``bulk_engine_warmup`` times on every engine (one peer each), untimed. A
    JVM keeps compiling the collect path over its first 20 to 30 runs (0.35 s down to 0.2 s per
    run here): engines with unequal histories would compare JIT states, not peers."""
    owners = {name: sessions[name] for name in OWN_ENGINE_PEERS if name in sessions}
    max_rows = ctx.sizes.bulk_max_rows[-1]

    def body(name: str, count: int, record: bool) -> None:
        for _ in range(count):
            owners[name].query(sql, max_rows)

    interleave(list(owners), [(1, False)] * ctx.sizes.bulk_engine_warmup, body, errors)


def _bulk_pass(
    ctx: Context, sessions: dict[str, Session], sql: str, max_rows: int, errors: dict[str, str]
) -> dict[str, Any]:
    sizes = ctx.sizes
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sessions}

    def body(name: str, count: int, record: bool) -> None:
        result = timed_query(ctx, name, sessions[name], sql, max_rows)
        if result["rows"] != sizes.table_rows:
            raise RuntimeError(f"{result['rows']} rows instead of {sizes.table_rows}")
        if record:
            runs[name].append(result)

    plan = [(1, False)] * sizes.bulk_warmup_rounds + [(1, True)] * sizes.bulk_rounds
    with gc_paused():
        interleave(list(sessions), plan, body, errors)
    return {
        name: summarize_runs(values, sizes.table_rows)
        for name, values in runs.items()
        if name not in errors
    }


def _decoded_runs(
    ctx: Context, sessions: dict[str, Session], sql: str, errors: dict[str, str]
) -> dict[str, Any]:
    """One run per peer decoding every reply with fastbinary (what a real client pays)."""
    max_rows = ctx.sizes.bulk_max_rows[0]
    decoded: dict[str, Any] = {"max_rows": max_rows}
    for name, session in sessions.items():
        if name in errors:
            continue
        try:
            record = run_record(session.query(sql, max_rows, decode=True))
            record["rows_per_s"] = record["rows"] / record["total_s"]
            decoded[name] = record
        except Exception as exc:  # noqa: BLE001
            decoded[name] = {"error": describe(exc)}
    return decoded


def _pyhive_runs(ctx: Context, sql: str) -> dict[str, Any]:
    max_rows = ctx.sizes.bulk_max_rows[0]
    results: dict[str, Any] = {"max_rows": max_rows}
    for peer in ctx.peer_set().available(ctx.sizes.pyhive_peers):
        try:
            stats = pyhive_query(peer.host, peer.port, peer.user, sql, max_rows)
            record = run_record(stats)
            record["rows_per_s"] = stats.rows / stats.total_s
            results[peer.name] = record
        except Exception as exc:  # noqa: BLE001
            results[peer.name] = {"error": describe(exc)}
    return results


# ---------------------------------------------------------------------------- B4

BARE_PYSPARK = """
import sys
from pyspark.sql import SparkSession
builder = SparkSession.builder
for key, value in (arg.split("=", 1) for arg in sys.argv[1:]):
    builder = builder.config(key, value)
spark = builder.getOrCreate()
rows = spark.sql("SELECT 1").collect()
print("BARE_FIRST_ROW", len(rows), flush=True)
spark.stop()
"""


def b4_cold_engine_start(ctx: Context) -> dict[str, Any]:
    """New user through the gateway (OpenSession launches an engine) to the first SELECT 1 row,
    against a bare pyspark SparkSession + SELECT 1 in a fresh subprocess; alternated."""
    from bench.peers import spark_conf

    gateway = ctx.peer_set().gateway()
    if gateway is None:
        return {"errors": unavailable(ctx, ["gateway"])}
    # Only the main user's engine stays up: the cold starts get the machine's memory.
    ctx.peer_set().release_gateway_users(EXTRA_USERS)
    gateway_s: list[float] = []
    bare_s: list[float] = []
    engine_rss_mb: list[float] = []
    details: list[dict[str, Any]] = []
    errors: list[str] = []

    def via_gateway(run: int) -> None:
        details.append(_cold_gateway_run(gateway, run, gateway_s, engine_rss_mb))

    def bare(run: int) -> None:
        bare_s.append(_bare_pyspark_run(ctx.workdir, run, spark_conf(ctx.workdir)))

    for run in range(ctx.sizes.cold_runs):
        # Alternate which goes first, so neither always runs right after the other's exit.
        for step in (via_gateway, bare) if run % 2 == 0 else (bare, via_gateway):
            try:
                step(run)
            except Exception as exc:  # noqa: BLE001
                errors.append(describe(exc))
    return {
        "gateway_s": gateway_s,
        "bare_pyspark_s": bare_s,
        "median_gateway_s": median(gateway_s) if gateway_s else None,
        "median_bare_pyspark_s": median(bare_s) if bare_s else None,
        "idle_engine_rss_mb": engine_rss_mb,
        "runs": details,
        "errors": errors,
        "client_timeouts": sum("timed out" in error.lower() for error in errors),
    }


def _cold_gateway_run(
    gateway: GatewayPeer, run: int, times: list[float], rss_mb: list[float]
) -> dict[str, Any]:
    user = f"bench_cold{run}_{os.getpid()}"
    detail: dict[str, Any] = {"user": user}
    started_wall = time.time()
    start = time.perf_counter()
    # Generous timeouts: a slow start must show up as a slow number, not a failure.
    session = Session(gateway.host, gateway.port, user, timeout_s=400.0, connect_timeout_s=30.0)
    try:
        detail["open_session_s"] = time.perf_counter() - start
        session.select1_cycle()
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        detail["first_row_s"] = elapsed
        time.sleep(1.0)  # let the engine settle into its idle footprint
        engine = gateway.engine_pid(user)
        if engine is None:
            raise RuntimeError(f"engine of {user} not found among the gateway's processes")
        rss = procs.tree_rss_kb(engine)
        if rss is not None:
            rss_mb.append(rss / 1024)
        detail["engine_rss_kb"] = procs.tree_rss_detail_kb(engine)
    finally:
        session.close()
        # Killed between runs: every run is a cold start, and engines do not pile up.
        procs.kill_pids(gateway.engine_pids(user), grace_s=10.0)
    if gateway.proc is not None:
        detail["phases_s"] = cold_start_phases(gateway.proc.output(), user, started_wall)
    return detail


_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})")
# Gateway log lines that mark the phases of a launch (matched with the user on the same line).
_PHASE_MARKERS = (
    ("engine_launched", "Launched engine"),
    ("engine_registered", " registered as "),
    ("session_opened", "Opened GatewaySession"),
)


def cold_start_phases(gateway_log: str, user: str, started_wall: float) -> dict[str, float]:
    """Seconds from the client's connect to each launch milestone the gateway logs for
    ``user``. Best effort: a changed log wording just leaves a phase out."""
    phases: dict[str, float] = {}
    for line in gateway_log.splitlines():
        if user not in line:
            continue
        match = _LOG_TIME.match(line)
        if not match:
            continue
        for name, marker in _PHASE_MARKERS:
            if marker in line and name not in phases:
                stamp = time.mktime(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S"))
                phases[name] = round(stamp + int(match.group(2)) / 1000 - started_wall, 3)
    return phases


def _bare_pyspark_run(workdir: Path, run: int, spark_conf: dict[str, str]) -> float:
    script = workdir / "bare_pyspark.py"
    script.write_text(BARE_PYSPARK)
    args = [f"{key}={value}" for key, value in spark_conf.items()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_GATEWAY")}
    start = time.perf_counter()
    proc = procs.spawn(
        f"bare-pyspark-{run}",
        [sys.executable, str(script), *args],
        workdir / f"bare_pyspark_{run}.log",
        env=env,
        cwd=workdir,
    )
    try:
        procs.wait_for_line(proc, r"BARE_FIRST_ROW 1", 300.0, poll_s=0.02)
        return time.perf_counter() - start
    finally:
        procs.stop(proc, grace_s=5.0)


# ---------------------------------------------------------------------------- B6

_MIX = (("select1", 0.45), ("metadata", 0.45), ("fetch10k", 0.10))


def _pick(rng: random.Random) -> str:
    draw = rng.random()
    for kind, weight in _MIX:
        if draw < weight:
            return kind
        draw -= weight
    return _MIX[-1][0]


def _run_op(session: Session, kind: str) -> None:
    if kind == "select1":
        session.select1_cycle()
    elif kind == "metadata":
        session.schemas_cycle()
    else:
        stats = session.query(f"SELECT * FROM {TABLE_1M} LIMIT 10000", 10_000)
        if stats.rows != 10_000:
            raise RuntimeError(f"LIMIT 10000 returned {stats.rows} rows")


@dataclass
class _Load:
    """Shared tallies of one concurrency cell."""

    measure_start: float
    end: float
    latencies: dict[str, list[float]] = field(default_factory=dict)
    completed: int = 0
    errors: int = 0
    messages: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, started: float, finished: float) -> None:
        with self.lock:
            if self.measure_start <= finished <= self.end:
                self.completed += 1
            if started >= self.measure_start:
                self.latencies.setdefault(kind, []).append((finished - started) * 1e3)

    def failed(self, message: str) -> None:
        with self.lock:
            self.errors += 1
            if len(self.messages) < 5:
                self.messages.append(message)


def _load_worker(peer: Peer, user: str, session: Session | None, load: _Load, seed: int) -> None:
    rng = random.Random(seed)
    while True:
        started = time.perf_counter()
        if started >= load.end:
            break
        kind = _pick(rng)
        try:
            if session is None:
                session = Session(peer.host, peer.port, user, timeout_s=120.0)
            _run_op(session, kind)
        except Exception as exc:  # noqa: BLE001 - counted; a new session replaces a broken one
            load.failed(f"{kind}: {describe(exc)}")
            if session is not None:
                try:
                    session.close()
                except Exception:  # noqa: BLE001
                    pass
            session = None
            time.sleep(0.05)
            continue
        load.record(kind, started, time.perf_counter())
    if session is not None:
        try:
            session.close()
        except Exception:  # noqa: BLE001
            pass


def _open_many(peer: Peer, users: Sequence[str], count: int, load: _Load) -> list[Session | None]:
    def one(index: int) -> Session | None:
        try:
            return Session(peer.host, peer.port, users[index % len(users)], timeout_s=120.0)
        except Exception as exc:  # noqa: BLE001
            load.failed(f"open: {describe(exc)}")
            return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(count)))


def load_cell(
    peer: Peer, users: Sequence[str], sessions: int, warmup_s: float, measure_s: float
) -> dict[str, Any]:
    """``sessions`` client threads, each on its own connection, looping over the op mix."""
    load = _Load(measure_start=0.0, end=float("inf"))
    opened = _open_many(peer, users, sessions, load)
    start = time.perf_counter()
    load.measure_start = start + warmup_s
    load.end = load.measure_start + measure_s
    threads = [
        threading.Thread(
            target=_load_worker,
            args=(peer, users[i % len(users)], opened[i], load, 1000 + i),
            daemon=True,
        )
        for i in range(sessions)
    ]
    for thread in threads:
        thread.start()
    deadline = load.end + 120.0
    for thread in threads:
        thread.join(timeout=max(0.1, deadline - time.perf_counter()))
    stuck = sum(thread.is_alive() for thread in threads)
    every = [value for values in load.latencies.values() for value in values]
    return {
        "sessions": sessions,
        "users": len(users),
        "ops": load.completed,
        "ops_per_s": load.completed / measure_s,
        "latency_ms": summarize(every),
        "latency_ms_by_kind": {kind: summarize(v) for kind, v in load.latencies.items()},
        "errors": load.errors + stuck,
        "stuck_threads": stuck,
        "error_samples": load.messages,
    }


def b6_concurrency(ctx: Context) -> dict[str, Any]:
    sizes = ctx.sizes
    peers, errors = wanted_peers(ctx, ("gateway", "direct", "sts"))
    by_name = {peer.name: peer for peer in peers}
    combos: list[tuple[str, int]] = [
        (name, 1) for name in ("gateway", "direct", "sts") if name in by_name
    ]
    if "gateway" in by_name and 4 in sizes.load_users:
        try:
            for user in EXTRA_USERS:
                ctx.peer_set().ensure_table(by_name["gateway"], user)
            combos.insert(1, ("gateway", 4))
        except Exception as exc:  # noqa: BLE001
            errors["gateway/4 users"] = f"engine setup: {describe(exc)}"
    cells: list[dict[str, Any]] = []
    for index, level in enumerate(sizes.load_levels):
        for name, user_count in rotate_pairs(combos, index):
            users = [MAIN_USER, *EXTRA_USERS][:user_count]
            log.info("B6: %s, %d sessions, %d users", name, level, user_count)
            try:
                cell = load_cell(
                    by_name[name], users, level, sizes.load_warmup_s, sizes.load_measure_s
                )
            except Exception as exc:  # noqa: BLE001
                cell = {"sessions": level, "users": user_count, "error": describe(exc)}
            cells.append({"peer": name, **cell})
    return {"mix": dict(_MIX), "cells": cells, "errors": errors}


def rotate_pairs(items: list[tuple[str, int]], shift: int) -> list[tuple[str, int]]:
    if not items:
        return []
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


# ---------------------------------------------------------------------------- B7


def b7_idle_session_memory(ctx: Context) -> dict[str, Any]:
    """RSS growth per idle session (each on its own connection) of the gateway process, of the
    engine behind it, of the engine direct and of STS."""
    count = ctx.sizes.idle_sessions
    peers, errors = wanted_peers(ctx, ("gateway", "direct", "sts"))
    results: dict[str, Any] = {}
    for peer in peers:
        try:
            results[peer.name] = _idle_sessions(ctx, peer, count)
        except Exception as exc:  # noqa: BLE001
            errors[peer.name] = describe(exc)
    return {"sessions": count, "peers": results, "errors": errors}


def _memory_roles(ctx: Context, peer: Peer) -> dict[str, tuple[int, bool]]:
    """role -> (pid, whole tree?) whose RSS is read for ``peer``."""
    if isinstance(peer, GatewayPeer) and peer.proc:
        roles = {"gateway": (peer.proc.pid, False)}
        engine = peer.engine_pid(MAIN_USER)
        if engine:
            roles["engine"] = (engine, True)
        return roles
    return {"engine": (peer.proc.pid, True)} if peer.proc else {}


def _read_rss(roles: dict[str, tuple[int, bool]]) -> dict[str, int | None]:
    return {
        role: procs.tree_rss_kb(pid) if tree else procs.rss_kb(pid)
        for role, (pid, tree) in roles.items()
    }


def _read_threads(roles: dict[str, tuple[int, bool]]) -> dict[str, int | None]:
    """Threads of each role's top process (thread-per-connection servers show it at once)."""
    return {role: procs.thread_count(pid) for role, (pid, _) in roles.items()}


def _idle_sessions(ctx: Context, peer: Peer, count: int) -> dict[str, Any]:
    roles = _memory_roles(ctx, peer)
    time.sleep(1.0)
    before = _read_rss(roles)
    threads_before = _read_threads(roles)
    sessions: list[Session] = []
    try:
        for _ in range(count):
            sessions.append(peer.session(timeout_s=60.0))
        time.sleep(2.0)  # let lazily allocated per-session state appear
        during = _read_rss(roles)
        threads_during = _read_threads(roles)
    finally:
        for session in sessions:
            try:
                session.close()
            except Exception:  # noqa: BLE001
                pass
    time.sleep(1.0)
    after = _read_rss(roles)
    result: dict[str, Any] = {"opened": len(sessions)}
    for role in roles:
        start, peak, end = before.get(role), during.get(role), after.get(role)
        result[role] = {
            "rss_before_kb": start,
            "rss_with_sessions_kb": peak,
            "rss_after_close_kb": end,
            "kb_per_session": (peak - start) / count if start and peak else None,
            "threads_before": threads_before.get(role),
            "threads_with_sessions": threads_during.get(role),
        }
    return result


# ---------------------------------------------------------------------------- B8


def b8_large_result_streaming(ctx: Context) -> dict[str, Any]:
    """``SELECT *`` of the uncached large view with incremental collect, maxRows 100 000:
    gateway peak RSS (sampled every 20 ms) against the largest frame, and rows/s."""
    sizes = ctx.sizes
    peers, errors = wanted_peers(ctx, sizes.stream_peers)
    results: dict[str, Any] = {}
    for peer in peers:
        try:
            results[peer.name] = _stream_once(ctx, peer)
        except Exception as exc:  # noqa: BLE001
            errors[peer.name] = describe(exc)
    return {"rows": sizes.stream_rows, "max_rows": 100_000, "peers": results, "errors": errors}


def _stream_once(ctx: Context, peer: Peer) -> dict[str, Any]:
    roles = _memory_roles(ctx, peer)
    proxy = {role: pid for role, (pid, tree) in roles.items() if not tree}
    engines = {role: pid for role, (pid, tree) in roles.items() if tree}
    before = _read_rss(roles)
    with peer.session(conf=INCREMENTAL_CONF, timeout_s=900.0) as s:
        # Fine sampling of the small gateway process, coarse of the engine tree (a /proc scan).
        with (
            procs.PeakRssSampler(proxy, 0.02) as fine,
            procs.PeakRssSampler(engines, 0.25, tree=True) as coarse,
        ):
            stats = s.query(f"SELECT * FROM {TABLE_10M}", 100_000)
    if stats.rows != ctx.sizes.stream_rows:
        raise RuntimeError(f"{stats.rows} rows instead of {ctx.sizes.stream_rows}")
    record: dict[str, Any] = run_record(stats)
    record["rows_per_s"] = stats.rows / stats.total_s
    record["rss_before_kb"] = before
    record["peak_rss_kb"] = {**fine.peak_kb, **coarse.peak_kb}
    record["rss_samples"] = fine.samples
    record["rss_at_start_kb"] = peer.rss_at_start_kb
    if "gateway" in fine.peak_kb and before.get("gateway"):
        record["gateway_peak_growth_kb"] = fine.peak_kb["gateway"] - before["gateway"]  # type: ignore[operator]
    return record


# ---------------------------------------------------------------------------- B9


def b9_multi_user_fairness(ctx: Context) -> dict[str, Any]:
    """Four users (four engines) fetch the B3 query at once through the gateway; compared with
    one user alone, whose CPU use defines the 2-core ideal for the aggregate."""
    sizes = ctx.sizes
    gateway = ctx.peer_set().gateway()
    if gateway is None:
        return {"errors": unavailable(ctx, ["gateway"])}
    users = [MAIN_USER, *EXTRA_USERS]
    for user in users:
        ctx.peer_set().ensure_table(gateway, user)  # no-op when launched with the peers
    sql = f"SELECT * FROM {TABLE_1M}"
    # Every user's engine runs the query alike first (see _warm_engines): the extra users'
    # engines are fresh, the main user's has served B3.
    for user in users:
        with gateway.session(user, timeout_s=600.0) as session:
            for _ in range(sizes.bulk_engine_warmup):
                session.query(sql, 100_000)
    singles: list[dict[str, Any]] = []
    concurrent: list[dict[str, Any]] = []
    plan = [False] * sizes.fairness_warmup_rounds + [True] * sizes.fairness_rounds
    for record in plan:
        single = _single_user_run(ctx, gateway, sql)
        together = _concurrent_runs(gateway, users, sql, sizes.table_rows)
        if record:
            singles.append(single)
            concurrent.append(together)
    return _fairness_summary(singles, concurrent, users, sizes.table_rows)


def _single_user_run(ctx: Context, gateway: GatewayPeer, sql: str) -> dict[str, Any]:
    with gateway.session(timeout_s=600.0) as session:
        pids = server_cpu_pids(ctx, "gateway")
        before = _cpu_snapshot(pids)
        started = time.perf_counter()
        stats = session.query(sql, 100_000)
        wall = time.perf_counter() - started
        after = _cpu_snapshot(pids)
    cpu = sum(after[role] - before[role] for role in before if role in after)
    return {"rows": stats.rows, "wall_s": wall, "cpu_s": cpu, "cores_used": cpu / wall}


def _concurrent_runs(
    gateway: GatewayPeer, users: Sequence[str], sql: str, rows: int
) -> dict[str, Any]:
    sessions = [gateway.session(user, timeout_s=600.0) for user in users]
    barrier = threading.Barrier(len(users))
    finished: dict[str, float] = {}
    failures: dict[str, str] = {}

    def fetch(user: str, session: Session) -> None:
        try:
            barrier.wait(timeout=60.0)
            stats = session.query(sql, 100_000)
            if stats.rows != rows:
                raise RuntimeError(f"{stats.rows} rows instead of {rows}")
            finished[user] = time.perf_counter()
        except Exception as exc:  # noqa: BLE001
            failures[user] = describe(exc)

    threads = [
        threading.Thread(target=fetch, args=(u, s), daemon=True)
        for u, s in zip(users, sessions, strict=True)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900.0)
    close_all({str(i): s for i, s in enumerate(sessions)})
    per_user = {user: rows / (end - started) for user, end in finished.items()}
    wall = max(finished.values()) - started if finished else None
    return {
        "per_user_rows_per_s": per_user,
        "aggregate_rows_per_s": rows * len(finished) / wall if wall else None,
        "wall_s": wall,
        "errors": failures,
    }


def _fairness_summary(
    singles: list[dict[str, Any]],
    concurrent: list[dict[str, Any]],
    users: Sequence[str],
    rows: int,
) -> dict[str, Any]:
    single_rate = median([rows / run["wall_s"] for run in singles]) if singles else None
    cores = median([run["cores_used"] for run in singles]) if singles else None
    # Four users can at best use all of both cores, or scale four-fold if one user used < 0.5.
    scale = min(len(users), 2.0 / cores) if cores else None
    ideal = single_rate * scale if single_rate and scale else None
    aggregates = [r["aggregate_rows_per_s"] for r in concurrent if r["aggregate_rows_per_s"]]
    per_user = {
        user: median(
            [r["per_user_rows_per_s"][user] for r in concurrent if user in r["per_user_rows_per_s"]]
        )
        for user in users
        if any(user in r["per_user_rows_per_s"] for r in concurrent)
    }
    errors = {f"round{i}/{u}": e for i, r in enumerate(concurrent) for u, e in r["errors"].items()}
    aggregate = median(aggregates) if aggregates else None
    return {
        "users": list(users),
        "single_user_rows_per_s": single_rate,
        "single_user_cores_used": cores,
        "ideal_aggregate_rows_per_s": ideal,
        "aggregate_rows_per_s": aggregate,
        "aggregate_vs_ideal": aggregate / ideal if aggregate and ideal else None,
        "per_user_rows_per_s": per_user,
        "per_user_spread": spread(list(per_user.values())) if len(per_user) == len(users) else None,
        "single_runs": singles,
        "concurrent_runs": concurrent,
        "errors": errors,
    }


# ---------------------------------------------------------------------------- M1-M4


def m1(ctx: Context) -> dict[str, Any]:
    return micro.m1_encode_trowset(ctx.sizes.m1_rows)


def m2(ctx: Context) -> dict[str, Any]:
    return micro.m2_relay_throughput(ctx.sizes.m2_bytes, ctx.workdir)


def m3(ctx: Context) -> dict[str, Any]:
    return micro.m3_fastbinary_present()


def m4(ctx: Context) -> dict[str, Any]:
    return micro.m4_fetch_linearity()


# ---------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Scenario:
    id: str
    name: str
    peers: tuple[str, ...]
    run: Callable[[Context], dict[str, Any]]


SCENARIOS: dict[str, Scenario] = {
    s.id: s
    for s in (
        Scenario("M3", "fastbinary_present", (), m3),
        Scenario("M1", "encode_trowset_1m_x10", (), m1),
        Scenario("M4", "fetch_linearity", (), m4),
        Scenario("M2", "relay_throughput", (), m2),
        Scenario("B1", "rpc_overhead", ALL_PEERS, b1_rpc_overhead),
        Scenario("B2", "select1_latency", ALL_PEERS, b2_select1_latency),
        Scenario("B5", "warm_connect", ALL_PEERS, b5_warm_connect),
        Scenario("B3", "bulk_fetch_1m_x10", ALL_PEERS, b3_bulk_fetch),
        Scenario("B8", "large_result_streaming", ("gateway", "direct"), b8_large_result_streaming),
        Scenario("B7", "idle_session_memory", ("gateway", "direct", "sts"), b7_idle_session_memory),
        Scenario("B9", "multi_user_fairness", ("gateway",), b9_multi_user_fairness),
        Scenario("B6", "concurrency_50_200", ("gateway", "direct", "sts"), b6_concurrency),
        # Last: it launches and kills engines, the heaviest thing a run does.
        Scenario("B4", "cold_engine_start", ("gateway",), b4_cold_engine_start),
    )
}
