"""The run's report: targets evaluated from raw results, environment, JSON and Markdown.

Targets are performance.md section 7, one :class:`~bench.stats.Target` each, with the measured
value expressed so that the threshold reads like the document ("<= 1.10x direct"). A number that
could not be measured (scenario error, peer down) is MISSING, never PASS.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.stats import Comparison, Target, count_verdicts, ratio

SCHEMA_VERSION = 1
PACKAGES = ("pyspark", "thrift", "pyarrow", "numpy", "pyhive", "thrift-sasl", "kyuubi-py")


# ---------------------------------------------------------------------------- lookups


def dig(data: Any, *path: Any) -> Any:
    """``data[p0][p1]...`` or None as soon as a step is missing."""
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


class _Targets:
    """Collects targets; every value is computed defensively from possibly partial results."""

    def __init__(self, results: dict[str, dict[str, Any]]) -> None:
        self.results = results
        self.items: list[Target] = []

    def r(self, scenario: str, *path: Any) -> Any:
        return dig(self.results.get(scenario, {}), "results", *path)

    def add(
        self,
        target_id: str,
        description: str,
        op: Comparison,
        threshold: float,
        measured: float | None,
        unit: str = "x",
        detail: str = "",
    ) -> None:
        scenario = target_id.split(".")[0]
        self.items.append(
            Target(target_id, scenario, description, op, threshold, measured, unit, detail)
        )


def build_targets(results: dict[str, dict[str, Any]]) -> list[Target]:
    """Targets of the scenarios that were run (a target may still read another scenario's
    numbers, e.g. B8 against B3; it is MISSING if that one was not run)."""
    targets = _Targets(results)
    for builder in (_b1, _b2, _b3, _b4, _b5, _b6, _b7, _b8, _b9, _micro):
        builder(targets)
    return [target for target in targets.items if target.scenario in results]


# Targets comparing the gateway with the engine direct are also given for ``gateway_shared``
# (the gateway in front of the direct engine itself), which isolates the gateway's own cost from
# the differences between two engine JVMs.
SUBJECTS = (("gateway", ""), ("gateway_shared", ".same_engine"))


def _b1(t: _Targets) -> None:
    def stat(peer: str, method: str, pct: str) -> float | None:
        return t.r("B1", "peers", peer, method, pct)  # type: ignore[no-any-return]

    gos = "GetOperationStatus"
    for subject, suffix in SUBJECTS:
        note = " (gateway in front of the direct engine)" if suffix else ""
        t.add(
            f"B1.passthrough_p50_overhead{suffix}",
            f"GetOperationStatus via gateway adds <= 40 us p50 over direct{note}",
            "<=",
            40.0,
            diff(stat(subject, gos, "p50"), stat("direct", gos, "p50")),
            "us",
        )
        t.add(
            f"B1.passthrough_p99_overhead{suffix}",
            f"GetOperationStatus via gateway adds <= 120 us p99 over direct{note}",
            "<=",
            120.0,
            diff(stat(subject, gos, "p99"), stat("direct", gos, "p99")),
            "us",
        )
        t.add(
            f"B1.passthrough_p50_vs_relay{suffix}",
            f"GetOperationStatus p50 gateway / plain relay{note}",
            "<=",
            1.1,
            ratio(stat(subject, gos, "p50"), stat("relay", gos, "p50")),
        )
    t.add(
        "B1.getinfo_p50_vs_sts",
        "GetInfo (gateway-answered) p50 gateway / STS",
        "<=",
        1.0,
        ratio(stat("gateway", "GetInfo", "p50"), stat("sts", "GetInfo", "p50")),
    )


def _b2(t: _Targets) -> None:
    def stat(peer: str, pct: str, block: str = "peers") -> float | None:
        return t.r("B2", block, peer, pct)  # type: ignore[no-any-return]

    # Each comparison within one pass (scenarios.B2_OWN_ENGINES / B2_SAME_ENGINE).
    for subject, suffix in SUBJECTS:
        block = "same_engine_peers" if suffix else "peers"
        t.add(
            f"B2.p50_vs_direct{suffix}",
            "SELECT 1 cycle p50 gateway / direct" + (" (same engine)" if suffix else ""),
            "<=",
            1.03,
            ratio(stat(subject, "p50", block), stat("direct", "p50", block)),
        )
    t.add(
        "B2.p50_vs_sts",
        "SELECT 1 cycle p50 gateway / STS",
        "<=",
        0.9,
        ratio(stat("gateway", "p50"), stat("sts", "p50")),
    )
    t.add(
        "B2.p99_vs_sts",
        "SELECT 1 cycle p99 gateway / STS",
        "<=",
        1.0,
        ratio(stat("gateway", "p99"), stat("sts", "p99")),
    )


def _b3(t: _Targets) -> None:
    by_rows = t.r("B3", "max_rows") or {"10000": {}, "100000": {}}
    for max_rows in by_rows:

        def stat(
            peer: str, key: str, max_rows: str = max_rows, block: str = "max_rows"
        ) -> float | None:
            return t.r("B3", block, max_rows, peer, key)  # type: ignore[no-any-return]

        t.add(
            f"B3.rows_per_s_vs_sts@{max_rows}",
            f"1M x 10 end to end rows/s gateway / STS, maxRows {max_rows}",
            ">=",
            2.0,
            ratio(stat("gateway", "rows_per_s"), stat("sts", "rows_per_s")),
        )
        for subject, suffix in SUBJECTS:
            # Each comparison within one pass (scenarios.OWN_ENGINE_PEERS / SAME_ENGINE_PEERS).
            block = "same_engine_max_rows" if suffix else "max_rows"
            t.add(
                f"B3.time_vs_direct@{max_rows}{suffix}",
                f"1M x 10 end to end time gateway / direct, maxRows {max_rows}"
                + (" (same engine)" if suffix else ""),
                "<=",
                1.10,
                ratio(
                    stat(subject, "median_total_s", block=block),
                    stat("direct", "median_total_s", block=block),
                ),
            )
        t.add(
            f"B3.gateway_cpu_share@{max_rows}",
            f"gateway CPU / engine CPU during the fetch, maxRows {max_rows}",
            "<=",
            0.10,
            stat("gateway", "proxy_cpu_share_of_engine"),
        )


def _b4(t: _Targets) -> None:
    errors = t.r("B4", "errors")
    t.add(
        "B4.cold_start_vs_bare_pyspark",
        "new user's first SELECT 1 via gateway / bare pyspark session + SELECT 1",
        "<=",
        1.10,
        ratio(t.r("B4", "median_gateway_s"), t.r("B4", "median_bare_pyspark_s")),
    )
    t.add(
        "B4.failed_runs",
        "cold starts that failed or timed out",
        "<=",
        0,
        None if errors is None else float(len(errors)),
        "runs",
    )


def _b5(t: _Targets) -> None:
    def stat(peer: str, pct: str) -> float | None:
        return t.r("B5", "peers", peer, pct)  # type: ignore[no-any-return]

    t.add(
        "B5.p50_vs_sts",
        "connect + SASL + OpenSession + CloseSession p50 gateway / STS p50",
        "<=",
        0.7,
        ratio(stat("gateway", "p50"), stat("sts", "p50")),
    )
    t.add(
        "B5.p99_vs_sts_p90",
        "connect cycle p99 gateway / STS p90",
        "<=",
        1.0,
        ratio(stat("gateway", "p99"), stat("sts", "p90")),
    )


def _cell(cells: list[dict[str, Any]], peer: str, sessions: int, users: int) -> dict[str, Any]:
    for cell in cells:
        if (cell.get("peer"), cell.get("sessions"), cell.get("users")) == (peer, sessions, users):
            return cell
    return {}


def _b6(t: _Targets) -> None:
    cells: list[dict[str, Any]] = t.r("B6", "cells") or []
    levels = sorted({c["sessions"] for c in cells if "sessions" in c}) or [50]
    base = 50 if 50 in levels else levels[0]
    top = levels[-1]
    gateway = _cell(cells, "gateway", base, 1)
    t.add(
        f"B6.ops_vs_direct@{base}",
        f"mixed-load ops/s gateway / direct at {base} sessions",
        ">=",
        0.9,
        ratio(gateway.get("ops_per_s"), _cell(cells, "direct", base, 1).get("ops_per_s")),
    )
    t.add(
        f"B6.ops_vs_sts@{base}",
        f"mixed-load ops/s gateway / STS at {base} sessions",
        ">=",
        1.2,
        ratio(gateway.get("ops_per_s"), _cell(cells, "sts", base, 1).get("ops_per_s")),
    )
    top_cells = [c for c in cells if c.get("peer") == "gateway" and c.get("sessions") == top]
    measured = (
        float(sum(c.get("errors", 0) + (1 if "error" in c else 0) for c in top_cells))
        if top_cells
        else None
    )
    t.add(
        f"B6.errors@{top}",
        f"gateway errors at {top} sessions (1 and 4 users)",
        "<=",
        0,
        measured,
        "errors",
    )
    b2_p99 = dig(t.results.get("B2", {}), "results", "peers", "gateway", "p99")
    b6_p99 = dig(gateway, "latency_ms_by_kind", "select1", "p99")
    t.add(
        f"B6.select1_p99_vs_b2@{base}",
        f"SELECT 1 p99 under load ({base} sessions) / B2 single-session p99, gateway",
        "<=",
        2.0,
        ratio(b6_p99, b2_p99),
    )


def _b7(t: _Targets) -> None:
    t.add(
        "B7.gateway_kb_per_session",
        "gateway RSS growth per idle session",
        "<=",
        32.0,
        t.r("B7", "peers", "gateway", "gateway", "kb_per_session"),
        "KB",
    )
    t.add(
        "B7.engine_kb_per_session",
        "engine (JVM + Python) RSS growth per idle session, behind the gateway",
        "<=",
        200.0,
        t.r("B7", "peers", "gateway", "engine", "kb_per_session"),
        "KB",
    )
    idle = t.r("B4", "idle_engine_rss_mb")
    t.add(
        "B7.idle_engine_mb",
        "idle engine RSS after its first query (median of B4's fresh engines)",
        "<=",
        500.0,
        sorted(idle)[len(idle) // 2] if idle else None,
        "MB",
    )


def _b8(t: _Targets) -> None:
    run = t.r("B8", "peers", "gateway") or {}
    largest = run.get("largest_frame")
    peak_kb = dig(run, "peak_rss_kb", "gateway")
    bound_mb = 2 * largest / 2**20 + 50 if largest else None
    peak_mb = peak_kb / 1024 if peak_kb else None
    detail = ""
    if peak_mb is not None and bound_mb:
        start_kb = run.get("rss_at_start_kb") or 0
        growth_kb = run.get("gateway_peak_growth_kb") or 0
        detail = (
            f"peak {peak_mb:.0f} MB, at start {start_kb / 1024:.0f} MB, growth during the query "
            f"{growth_kb / 1024:.1f} MB, bound {bound_mb:.0f} MB"
        )
    t.add(
        "B8.gateway_peak_rss",
        "gateway peak RSS while streaming / (2 x largest frame + 50 MB)",
        "<=",
        1.0,
        ratio(peak_mb, bound_mb),
        detail=detail,
    )
    t.add(
        "B8.largest_frame_mib",
        "largest FetchResults frame",
        "<=",
        64.0,
        largest / 2**20 if largest else None,
        "MiB",
    )
    b3_rate = dig(t.results.get("B3", {}), "results", "max_rows", "100000", "gateway", "rows_per_s")
    t.add(
        "B8.rows_per_s_vs_b3",
        "streaming rows/s / B3 rows/s at maxRows 100000 (gateway)",
        ">=",
        0.9,
        ratio(run.get("rows_per_s"), b3_rate),
    )


def _b9(t: _Targets) -> None:
    t.add(
        "B9.aggregate_vs_ideal",
        "4 users at once: aggregate rows/s / CPU-limited ideal (2 cores)",
        ">=",
        0.8,
        t.r("B9", "aggregate_vs_ideal"),
    )
    t.add(
        "B9.per_user_spread",
        "4 users at once: (max - min) / max of per-user rows/s",
        "<=",
        0.20,
        t.r("B9", "per_user_spread"),
    )


def _micro(t: _Targets) -> None:
    identical = t.r("M1", "byte_identical")
    t.add(
        "M1.encode_s",
        "1M x 10 Arrow -> TRowSet bytes",
        "<=",
        0.30,
        t.r("M1", "arrow_encode_s"),
        "s",
    )
    t.add("M1.speedup", "object path time / Arrow path time", ">=", 4.0, t.r("M1", "speedup"))
    t.add(
        "M1.byte_identical",
        "Arrow path bytes == fastbinary bytes of the same TRowSet",
        ">=",
        1.0,
        None if identical is None else float(identical),
        "bool",
    )
    t.add(
        "M2.framed_gb_per_s",
        "gateway byte path (project read/send primitives) throughput",
        ">=",
        0.9,
        t.r("M2", "framed_gb_per_s"),
        "GB/s",
    )
    ok = t.r("M3", "ok")
    t.add(
        "M3.fastbinary",
        "fastbinary imports, no fallback",
        ">=",
        1.0,
        None if ok is None else float(ok),
        "bool",
    )
    t.add(
        "M4.per_row_ratio",
        "per-row encode time at 100 000 rows / at 1 000 rows",
        "<=",
        1.2,
        t.r("M4", "ratio_largest_to_smallest"),
    )


# ---------------------------------------------------------------------------- ratios

PEERS = ("direct", "relay", "sts")


def _versus(values: dict[str, float | None]) -> dict[str, float | None]:
    """``gateway / peer`` (and ``gateway_shared / peer``) for every peer measured alongside."""
    out: dict[str, float | None] = {}
    for subject, prefix in (("gateway", ""), ("gateway_shared", "shared_")):
        if subject in values:
            for peer in PEERS:
                if peer in values:
                    out[f"{prefix}vs_{peer}"] = ratio(values[subject], values[peer])
    return out


def gateway_ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Gateway / direct, / relay and / STS for the headline metric of each scenario
    (latencies and times: below 1 is better; rates: above 1 is better)."""
    out: dict[str, dict[str, Any]] = {}

    def peers(scenario: str, *path: str) -> dict[str, Any]:
        found = dig(results.get(scenario, {}), "results", *path)
        return found if isinstance(found, dict) else {}

    for method in ("GetOperationStatus", "GetInfo"):
        for pct in ("p50", "p99"):
            values = {p: dig(v, method, pct) for p, v in peers("B1", "peers").items()}
            out.setdefault("B1", {})[f"{method}_{pct}"] = _versus(values)
    for scenario in ("B2", "B5"):
        for pct in ("p50", "p99"):
            values = {p: dig(v, pct) for p, v in peers(scenario, "peers").items()}
            out.setdefault(scenario, {})[pct] = _versus(values)
    for pct in ("p50", "p99"):
        values = {p: dig(v, pct) for p, v in peers("B2", "same_engine_peers").items()}
        out["B2"][f"same_engine_{pct}"] = _versus(values)
    for max_rows, by_peer in peers("B3", "max_rows").items():
        values = {p: dig(v, "rows_per_s") for p, v in by_peer.items()}
        out.setdefault("B3", {})[f"rows_per_s@{max_rows}"] = _versus(values)
    cells = dig(results.get("B6", {}), "results", "cells") or []
    for level in sorted({c.get("sessions") for c in cells if c.get("sessions")}):
        same_level = [c for c in cells if c.get("sessions") == level and c.get("users") == 1]
        values = {c["peer"]: c.get("ops_per_s") for c in same_level}
        out.setdefault("B6", {})[f"ops_per_s@{level}"] = _versus(values)
        # Under the same closed-loop load: what the gateway adds to the tail, not the queueing.
        values = {c["peer"]: dig(c, "latency_ms", "p99") for c in same_level}
        out["B6"][f"p99_ms@{level}"] = _versus(values)
    return {k: v for k, v in out.items() if any(any(x.values()) for x in v.values())}


# ---------------------------------------------------------------------------- environment


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine_info() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        (
            int(line.split()[1])
            for line in _read("/proc/meminfo").splitlines()
            if line.startswith("MemTotal:")
        ),
        0,
    )
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "platform": platform.platform(),
        "load_avg_at_end": list(os.getloadavg()),
    }


def _command_output(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout or done.stderr).strip()


def versions() -> dict[str, Any]:
    found: dict[str, Any] = {"python": sys.version.split()[0]}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    found["java"] = _command_output(["java", "-version"]).splitlines()[:1]
    root = Path(__file__).parent.parent
    found["git_commit"] = _command_output(["git", "-C", str(root), "rev-parse", "--short", "HEAD"])
    found["git_dirty_files"] = len(
        _command_output(["git", "-C", str(root), "status", "--porcelain"]).splitlines()
    )
    found["bytecode_compiled"] = bytecode_compiled()
    return found


def bytecode_compiled() -> bool:
    """Whether the generated Thrift code has up-to-date bytecode. Without it (the Makefile's
    ``bytecode`` step skipped where Python may not write it) every gateway and engine compiles it
    at start, and B4, B7 and B8 measure that too."""
    from kyuubi_py.protocol._gen.TCLIService import ttypes

    source = Path(ttypes.__file__)
    cached = Path(importlib.util.cache_from_source(str(source)))
    return cached.exists() and cached.stat().st_mtime >= source.stat().st_mtime


# ---------------------------------------------------------------------------- output


def build_report(
    results: dict[str, dict[str, Any]],
    *,
    mode: str,
    started: float,
    peers: dict[str, Any],
    argv: list[str],
    load_at_start: list[float] | None = None,
) -> dict[str, Any]:
    targets = build_targets(results)
    machine = machine_info()
    # The run loads the machine itself; the load before it tells whether others did too.
    machine["load_avg_at_start"] = load_at_start
    return {
        "schema_version": SCHEMA_VERSION,
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": mode,
        "argv": argv,
        "duration_s": round(time.time() - started, 1),
        "machine": machine,
        "versions": versions(),
        "peers": peers,
        "scenarios": results,
        "ratios": gateway_ratios(results),
        "targets": [target.to_dict() for target in targets],
        "summary": count_verdicts(targets),
    }


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=False, default=_jsonable))
    tmp.replace(path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "bool":
        return "yes" if value >= 1 else "no"
    if unit in ("runs", "errors"):
        return f"{value:.0f}"
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{text}x" if unit == "x" else f"{text} {unit}"


def markdown(report: dict[str, Any]) -> str:
    start_load = report["machine"].get("load_avg_at_start") or ["?"]
    lines = [
        f"## kyuubi_py benchmark ({report['mode']}, {report['timestamp']}, "
        f"{report['duration_s']:.0f} s, load before the run {_n(start_load[0])})",
        "",
        "| target | measured | goal | verdict | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for target in report["targets"]:
        goal = f"{target['op']} {_fmt(target['threshold'], target['unit'])}"
        detail = f" ({target['detail']})" if target["detail"] else ""
        lines.append(
            f"| {target['id']} | {_fmt(target['measured'], target['unit'])} | {goal} | "
            f"{target['verdict']} | {target['description']}{detail} |"
        )
    summary = report["summary"]
    lines += [
        "",
        f"PASS {summary['PASS']}, FAIL {summary['FAIL']}, MISSING {summary['MISSING']}",
    ]
    lines += _scenario_lines(report["scenarios"])
    lines += headlines(report["scenarios"])
    return "\n".join(lines)


def _scenario_lines(scenarios: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["", "| scenario | status | seconds | errors |", "| --- | --- | --- | --- |"]
    for scenario_id, entry in scenarios.items():
        errors = entry.get("error") or dig(entry, "results", "errors") or ""
        text = json.dumps(errors)[:160] if errors else ""
        lines.append(
            f"| {scenario_id} {entry.get('name', '')} | {entry.get('status')} | "
            f"{entry.get('duration_s', 0):.1f} | {text} |"
        )
    return lines


# ---------------------------------------------------------------------------- headline numbers


def _n(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return "[" + ", ".join(_n(item, digits) for item in value) + "]"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"
    return str(value)


def headlines(scenarios: dict[str, dict[str, Any]]) -> list[str]:
    """The raw numbers behind the ratios, one compact line per peer (full detail in JSON)."""
    lines = ["", "### Raw numbers (medians / percentiles per peer)", ""]
    for scenario_id, entry in scenarios.items():
        results = entry.get("results")
        render = _RENDERERS.get(scenario_id)
        if not results or render is None:
            continue
        lines += [f"- {scenario_id}: " + line for line in render(results)]
    return lines


def _b1_lines(r: dict[str, Any]) -> list[str]:
    out = []
    for peer, methods in r.get("peers", {}).items():
        parts = [
            f"{m} p50 {_n(v.get('p50'))} / p99 {_n(v.get('p99'))} us" for m, v in methods.items()
        ]
        out.append(f"{peer}: " + ", ".join(parts))
    return out


def _latency_lines(r: dict[str, Any], block: str = "peers") -> list[str]:
    return [
        f"{peer}: p50 {_n(v.get('p50'))} / p90 {_n(v.get('p90'))} / p99 {_n(v.get('p99'))} ms"
        for peer, v in r.get(block, {}).items()
    ]


def _proxy_floor_lines(r: dict[str, Any]) -> list[str]:
    """The same-engine pass's p50 of each proxy over the engine direct: the plain relay's ratio
    is what any process in the path costs on this machine, before any gateway logic."""
    same = r.get("same_engine_peers", {})
    direct = dig(same, "direct", "p50")
    parts = [
        f"{peer} {_n(ratio(dig(same, peer, 'p50'), direct))}x"
        for peer in ("gateway_shared", "relay")
        if peer in same
    ]
    return [f"same engine: p50 / direct: {', '.join(parts)}"] if parts and direct else []


def _step_lines(steps_by_peer: dict[str, dict[str, float]] | None) -> list[str]:
    return [
        f"{peer} steps p50: " + ", ".join(f"{k} {_n(v)}" for k, v in steps.items()) + " ms"
        for peer, steps in (steps_by_peer or {}).items()
    ]


def _bulk_line(v: dict[str, Any]) -> str:
    return (
        f"{_n(v.get('median_total_s'))} s "
        f"(execute {_n(v.get('median_execute_s'))} + fetch {_n(v.get('median_fetch_s'))})"
        f", {_n((v.get('rows_per_s') or 0) / 1e6)} M rows/s, {_n(v.get('mb_per_s'))} MB/s"
        f", engine CPU {_n(v.get('median_cpu_engine_s'))} s"
        f", proxy CPU {_n(v.get('median_cpu_proxy_s'))} s"
    )


def _b3_lines(r: dict[str, Any]) -> list[str]:
    out = []
    passes = (("max_rows", ""), ("same_engine_max_rows", "same engine: "))
    for block, label in passes:
        for max_rows, peers in r.get(block, {}).items():
            for peer, v in peers.items():
                out.append(f"{label}maxRows {max_rows} {peer}: {_bulk_line(v)}")
    for kind in ("decoded", "pyhive"):
        for peer, v in (r.get(kind) or {}).items():
            if isinstance(v, dict):
                rate = v.get("rows_per_s")
                text = f"{_n(rate / 1e6)} M rows/s" if rate else v.get("error", "-")
                out.append(f"{kind} (maxRows {r[kind].get('max_rows')}) {peer}: {text}")
    return out


def _b4_lines(r: dict[str, Any]) -> list[str]:
    return [
        f"gateway first row {_n(r.get('median_gateway_s'))} s (runs {_n(r.get('gateway_s'))}), "
        f"bare pyspark {_n(r.get('median_bare_pyspark_s'))} s, idle engine "
        f"{_n(r.get('idle_engine_rss_mb'))} MB",
        *[f"run {i} phases: {run.get('phases_s')}" for i, run in enumerate(r.get("runs", []))],
    ]


def _b6_lines(r: dict[str, Any]) -> list[str]:
    return [
        f"{c.get('peer')} {c.get('sessions')} sessions / {c.get('users')} users: "
        f"{_n(c.get('ops_per_s'))} ops/s, p50 {_n(dig(c, 'latency_ms', 'p50'))} / p99 "
        f"{_n(dig(c, 'latency_ms', 'p99'))} ms, errors {c.get('errors', c.get('error'))}"
        for c in r.get("cells", [])
    ]


def _b7_lines(r: dict[str, Any]) -> list[str]:
    out = []
    for peer, roles in r.get("peers", {}).items():
        for role, v in roles.items():
            if isinstance(v, dict):
                out.append(
                    f"{peer}/{role}: {_n(v.get('kb_per_session'))} KB/session "
                    f"(RSS {_n((v.get('rss_before_kb') or 0) / 1024)} -> "
                    f"{_n((v.get('rss_with_sessions_kb') or 0) / 1024)} MB)"
                )
    return out


def _b8_lines(r: dict[str, Any]) -> list[str]:
    return [
        f"{peer}: {_n(v.get('rows'))} rows in {_n(v.get('total_s'))} s, "
        f"{_n((v.get('rows_per_s') or 0) / 1e6)} M rows/s, largest frame "
        f"{_n((v.get('largest_frame') or 0) / 2**20)} MiB, peak RSS "
        f"{ {k: round(x / 1024) for k, x in (v.get('peak_rss_kb') or {}).items()} } MB"
        for peer, v in r.get("peers", {}).items()
    ]


def _b9_lines(r: dict[str, Any]) -> list[str]:
    per_user = {u: round(v / 1e6, 3) for u, v in (r.get("per_user_rows_per_s") or {}).items()}
    return [
        f"single user {_n((r.get('single_user_rows_per_s') or 0) / 1e6)} M rows/s using "
        f"{_n(r.get('single_user_cores_used'))} cores; 4 users aggregate "
        f"{_n((r.get('aggregate_rows_per_s') or 0) / 1e6)} M rows/s (ideal "
        f"{_n((r.get('ideal_aggregate_rows_per_s') or 0) / 1e6)}), per user {per_user}"
    ]


def _micro_lines(r: dict[str, Any]) -> list[str]:
    keys = [k for k, v in r.items() if isinstance(v, (int, float, bool, str)) and k != "path"]
    return [", ".join(f"{k} {_n(r[k])}" for k in keys)]


_RENDERERS: dict[str, Any] = {
    "B1": _b1_lines,
    "B2": lambda r: [
        *_latency_lines(r),
        *_step_lines(r.get("steps_p50_ms")),
        *[f"same engine: {line}" for line in _latency_lines(r, "same_engine_peers")],
        *[f"same engine: {line}" for line in _step_lines(r.get("same_engine_steps_p50_ms"))],
        *_proxy_floor_lines(r),
        *[
            f"{r.get('one_row_job_statement')}: {line}"
            for line in _latency_lines(r, "one_row_job_peers")
        ],
    ],
    "B5": _latency_lines,
    "B3": _b3_lines,
    "B4": _b4_lines,
    "B6": _b6_lines,
    "B7": _b7_lines,
    "B8": _b8_lines,
    "B9": _b9_lines,
    "M1": _micro_lines,
    "M2": _micro_lines,
    "M3": _micro_lines,
    "M4": lambda r: [
        f"per-row ns {r.get('per_row_ns')}, ratio {_n(r.get('ratio_largest_to_smallest'))}"
    ],
}
