"""Unit tests of the benchmark suite's pure parts, plus M3/M4 as quick structural guards.

Nothing here starts a JVM or a peer; the whole file runs in a few seconds.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# `bench` is a top-level directory of the repository, not part of the installed package.
_ROOT = Path(__file__).resolve().parents[3]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from bench import micro, report, scenarios  # noqa: E402
from bench.clients import BenchClientError, fetch_reply_rows  # noqa: E402
from bench.run import select  # noqa: E402
from bench.stats import (  # noqa: E402
    Target,
    count_verdicts,
    evaluate,
    median,
    percentile,
    ratio,
    spread,
    summarize,
)
from kyuubi_py.protocol.dispatch import encode_message_header  # noqa: E402
from kyuubi_py.protocol.rowset import encode_struct  # noqa: E402
from kyuubi_py.protocol.tcli import TCLIService, ttypes  # noqa: E402

# ---------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("pct", [0, 1, 25, 50, 90, 99, 99.9, 100])
def test_percentile_matches_numpy(pct: float) -> None:
    rng = random.Random(3)
    samples = [rng.expovariate(1.0) for _ in range(1001)]
    assert percentile(samples, pct) == pytest.approx(float(np.percentile(samples, pct)))


def test_percentile_small_samples() -> None:
    assert percentile([5.0], 99) == 5.0
    assert percentile([1.0, 3.0], 50) == 2.0
    assert median([3.0, 1.0, 2.0]) == 2.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summarize() -> None:
    summary = summarize([1.0, 2.0, 3.0, 4.0])
    assert summary["n"] == 4
    assert summary["p50"] == 2.5
    assert summary["min"] == 1.0 and summary["max"] == 4.0
    assert summary["mean"] == 2.5
    assert summarize([]) == {"n": 0}


def test_ratio_and_spread() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None
    assert ratio(1.0, None) is None
    assert ratio(1.0, 0.0) is None
    assert spread([100.0, 80.0, 90.0]) == pytest.approx(0.2)
    assert spread([]) is None


@pytest.mark.parametrize(
    ("measured", "op", "threshold", "verdict"),
    [
        (1.0, "<=", 1.1, "PASS"),
        (1.1, "<=", 1.1, "PASS"),
        (1.2, "<=", 1.1, "FAIL"),
        (2.0, ">=", 2.0, "PASS"),
        (1.9, ">=", 2.0, "FAIL"),
        (None, "<=", 1.0, "MISSING"),
        (float("nan"), ">=", 1.0, "MISSING"),
    ],
)
def test_evaluate(measured: float | None, op: Any, threshold: float, verdict: str) -> None:
    assert evaluate(measured, op, threshold) == verdict
    assert Target("X.y", "X", "d", op, threshold, measured).verdict == verdict


def test_count_verdicts() -> None:
    targets = [
        Target("a", "A", "", "<=", 1.0, 0.5),
        Target("b", "A", "", "<=", 1.0, 2.0),
        Target("c", "A", "", "<=", 1.0, None),
    ]
    assert count_verdicts(targets) == {"PASS": 1, "FAIL": 1, "MISSING": 1}


# ---------------------------------------------------------------------------- raw replies


def _reply(resp: ttypes.TFetchResultsResp, seqid: int = 7) -> bytes:
    result = TCLIService.FetchResults_result(success=resp)
    return encode_message_header("FetchResults", 2, seqid) + encode_struct(result)


def _ok() -> ttypes.TStatus:
    return ttypes.TStatus(statusCode=0, infoMessages=["a", "b"], sqlState="00000")


def test_fetch_reply_rows_columnar() -> None:
    columns = [
        ttypes.TColumn(i64Val=ttypes.TI64Column(values=[1, 2, 3], nulls=b"")),
        ttypes.TColumn(stringVal=ttypes.TStringColumn(values=["a", "b", "c"], nulls=b"\x02")),
    ]
    rowset = ttypes.TRowSet(startRowOffset=0, rows=[], columns=columns)
    resp = ttypes.TFetchResultsResp(status=_ok(), hasMoreRows=True, results=rowset)
    assert fetch_reply_rows(_reply(resp)) == (3, True)


def test_fetch_reply_rows_empty_and_row_based() -> None:
    empty = ttypes.TRowSet(startRowOffset=0, rows=[], columns=[])
    resp = ttypes.TFetchResultsResp(status=_ok(), hasMoreRows=False, results=empty)
    assert fetch_reply_rows(_reply(resp)) == (0, False)
    value = ttypes.TColumnValue(i32Val=ttypes.TI32Value(value=1))
    rows = ttypes.TRowSet(startRowOffset=0, rows=[ttypes.TRow(colVals=[value])] * 4)
    resp = ttypes.TFetchResultsResp(status=_ok(), hasMoreRows=False, results=rows)
    assert fetch_reply_rows(_reply(resp)) == (4, False)


def test_fetch_reply_rows_error_status() -> None:
    status = ttypes.TStatus(statusCode=3, errorMessage="boom", errorCode=1)
    with pytest.raises(BenchClientError, match="boom"):
        fetch_reply_rows(_reply(ttypes.TFetchResultsResp(status=status)))


def test_fetch_reply_rows_of_project_encoder() -> None:
    """The row counter reads what the engine's own encoder writes (first column: bigint)."""
    from kyuubi_py.protocol.rowset import encode_columnar_rowset, encode_fetch_results_resp

    columns = micro.mixed_columns(1234)
    parts = encode_fetch_results_resp(_ok(), False, encode_columnar_rowset(columns, 0))
    frame = encode_message_header("FetchResults", 2, 1) + b"\x0c\x00\x00" + b"".join(parts)
    assert fetch_reply_rows(frame + b"\x00") == (1234, False)


# ---------------------------------------------------------------------------- harness logic


def test_round_order_and_round_plan() -> None:
    names = ["a", "b", "c", "d", "e"]
    orders = [scenarios.round_order(names, index) for index in range(40)]
    assert all(sorted(order) == names for order in orders)
    assert orders == [scenarios.round_order(names, index) for index in range(40)]  # seeded
    # Every peer gets more than one predecessor (a rotation would give each exactly one).
    predecessors = {(o[i - 1], o[i]) for o in orders for i in range(1, len(o))}
    assert all(len({p for p, n in predecessors if n == name}) > 1 for name in names)
    assert scenarios.round_order([], 2) == []
    assert scenarios.round_plan(50, 500, 100) == [(50, False)] + [(100, True)] * 5
    assert scenarios.round_plan(0, 10, 20) == [(20, True)]


def test_interleave_runs_every_peer_each_round_and_drops_failing_peer() -> None:
    calls: list[tuple[str, int, bool]] = []

    def body(name: str, count: int, record: bool) -> None:
        if name == "bad" and record:
            raise RuntimeError("down")
        calls.append((name, count, record))

    errors: dict[str, str] = {}
    scenarios.interleave(["a", "bad", "c"], [(5, False), (1, True), (1, True)], body, errors)
    assert errors == {"bad": "RuntimeError: down"}
    rounds = [scenarios.round_order(["a", "bad", "c"], index) for index in range(3)]
    expected = [*rounds[0], *[n for n in rounds[1] + rounds[2] if n != "bad"]]
    assert [name for name, _, _ in calls] == expected
    assert all(count == 5 and not record for _, count, record in calls[:3])


def test_cold_start_phases_from_gateway_log() -> None:
    import time

    log = "\n".join(
        [
            "2026-01-02 03:04:05,100 INFO [t] router: Session of u1 goes to engine space /x/u1",
            "2026-01-02 03:04:05,200 INFO [t] launcher: Launched engine kyuubi_u1_default (pid 9)",
            "2026-01-02 03:04:09,700 INFO [t] engine_manager: Engine kyuubi_u1 registered as /x/u1",
            "2026-01-02 03:04:09,900 INFO [t] session.manager: Opened GatewaySession(.., user=u1)",
            "2026-01-02 03:04:10,000 INFO [t] session.manager: Opened GatewaySession(.., user=u2)",
        ]
    )
    start = time.mktime(time.strptime("2026-01-02 03:04:05", "%Y-%m-%d %H:%M:%S"))
    phases = scenarios.cold_start_phases(log, "u1", start)
    assert phases == {
        "engine_launched": pytest.approx(0.2),
        "engine_registered": pytest.approx(4.7),
        "session_opened": pytest.approx(4.9),
    }
    assert scenarios.cold_start_phases("no timestamps here u1", "u1", start) == {}


def test_load_window_counts_only_the_measured_interval() -> None:
    load = scenarios._Load(measure_start=10.0, end=20.0)
    load.record("select1", 9.0, 9.5)  # warm-up: neither counted nor sampled
    load.record("select1", 9.5, 10.5)  # completes inside: counted, not sampled (started early)
    load.record("metadata", 12.0, 12.1)
    load.record("fetch10k", 19.9, 20.5)  # completes after the end: sampled, not counted
    load.failed("boom")
    assert load.completed == 2
    assert sorted(load.latencies) == ["fetch10k", "metadata"]
    assert load.errors == 1 and load.messages == ["boom"]


def test_op_mix_is_deterministic_and_weighted() -> None:
    rng = random.Random(1)
    picks = [scenarios._pick(rng) for _ in range(20_000)]
    assert picks[:50] == [scenarios._pick(r) for r in [random.Random(1)] for _ in range(50)]
    share = {kind: picks.count(kind) / len(picks) for kind in ("select1", "metadata", "fetch10k")}
    assert share["fetch10k"] == pytest.approx(0.10, abs=0.01)
    assert share["select1"] == pytest.approx(0.45, abs=0.02)


def test_select_scenarios() -> None:
    assert [s.id for s in select("b3,M1")] == ["M1", "B3"]
    assert len(select("all")) == len(scenarios.SCENARIOS)
    with pytest.raises(SystemExit):
        select("B42")


def test_quick_sizes_are_smaller() -> None:
    quick, full = scenarios.QUICK, scenarios.FULL
    assert quick.rpc_calls == 500 and quick.rpc_warmup == 50
    assert full.rpc_calls == 5000 and full.rpc_warmup == 500
    assert full.load_levels == (50, 100, 200) and quick.load_levels == (20, 50)
    assert full.idle_sessions == 200 and full.stream_rows == 10_000_000


# ---------------------------------------------------------------------------- report


def _fake_results() -> dict[str, dict[str, Any]]:
    def peers_b1(p50: float) -> dict[str, Any]:
        stats = {"p50": p50, "p99": p50 * 3}
        return {"GetOperationStatus": stats, "GetInfo": stats}

    def bulk(total: float, share: float | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {"median_total_s": total, "rows_per_s": 1e6 / total}
        if share is not None:
            entry["proxy_cpu_share_of_engine"] = share
        return entry

    return {
        "B1": {
            "status": "ok",
            "results": {
                "peers": {
                    "gateway": peers_b1(100.0),
                    "direct": peers_b1(70.0),
                    "relay": peers_b1(95.0),
                    "sts": peers_b1(120.0),
                }
            },
        },
        "B3": {
            "status": "ok",
            "results": {
                "max_rows": {
                    "10000": {
                        "gateway": bulk(1.1, 0.05),
                        "direct": bulk(1.0),
                        "sts": bulk(3.0),
                    }
                }
            },
        },
        "B8": {"status": "error", "error": "RuntimeError: boom"},
        "M3": {"status": "ok", "results": {"ok": True}},
    }


def test_build_targets_verdicts() -> None:
    targets = {t.id: t for t in report.build_targets(_fake_results())}
    assert targets["B1.passthrough_p50_overhead"].measured == pytest.approx(30.0)
    assert targets["B1.passthrough_p50_overhead"].verdict == "PASS"
    assert targets["B1.passthrough_p99_overhead"].verdict == "PASS"  # 90 us
    assert targets["B1.passthrough_p50_vs_relay"].verdict == "PASS"  # 1.05x
    assert targets["B1.getinfo_p50_vs_sts"].verdict == "PASS"
    assert targets["B3.rows_per_s_vs_sts@10000"].measured == pytest.approx(3.0 / 1.1)
    assert targets["B3.time_vs_direct@10000"].verdict == "PASS"
    assert targets["B3.gateway_cpu_share@10000"].verdict == "PASS"
    assert targets["B8.largest_frame_mib"].verdict == "MISSING"
    assert targets["M3.fastbinary"].verdict == "PASS"
    # Only the scenarios that ran have targets.
    assert not any(t.scenario in {"B2", "B6", "M1"} for t in targets.values())


def test_gateway_ratios() -> None:
    ratios = report.gateway_ratios(_fake_results())
    assert ratios["B1"]["GetOperationStatus_p50"] == {
        "vs_direct": pytest.approx(100 / 70),
        "vs_relay": pytest.approx(100 / 95),
        "vs_sts": pytest.approx(100 / 120),
    }
    assert ratios["B3"]["rows_per_s@10000"]["vs_sts"] == pytest.approx(3.0 / 1.1)
    assert "B2" not in ratios  # not run: no ratios, no crash


def test_report_schema_and_markdown(tmp_path: Path) -> None:
    data = report.build_report(
        _fake_results(), mode="quick", started=0.0, peers={"direct": {"port": 1}}, argv=[]
    )
    for key in (
        "schema_version",
        "timestamp",
        "mode",
        "duration_s",
        "machine",
        "versions",
        "peers",
        "scenarios",
        "ratios",
        "targets",
        "summary",
    ):
        assert key in data
    for key in ("python", "pyspark", "thrift", "pyarrow", "numpy"):
        assert data["versions"][key]
    for key in ("cpu_model", "cores", "memory_gb", "kernel"):
        assert key in data["machine"]
    assert set(data["summary"]) == {"PASS", "FAIL", "MISSING"}
    target = data["targets"][0]
    for key in ("id", "scenario", "description", "op", "threshold", "measured", "verdict"):
        assert key in target
    out = tmp_path / "r" / "latest.json"
    report.write_json(data, out)
    assert json.loads(out.read_text())["mode"] == "quick"
    text = report.markdown(data)
    assert "| target | measured | goal | verdict |" in text
    assert "B1.passthrough_p50_overhead" in text and "PASS" in text


# ---------------------------------------------------------------------------- M3 / M4


def test_m3_fastbinary_present() -> None:
    result = micro.m3_fastbinary_present()
    assert result["ok"], result


def test_m4_encoding_is_linear() -> None:
    """Structural guard, not a timing target: per-row cost at 100k rows must not exceed 1.5x the
    per-row cost at 1k (an O(n^2) encoder would be 100x)."""
    result = micro.m4_fetch_linearity(sizes=(1_000, 100_000), budget_rows=300_000)
    assert result["ratio_largest_to_smallest"] <= 1.5, result


def test_m1_small_is_byte_identical() -> None:
    result = micro.m1_encode_trowset(rows=20_000, repeats=1)
    assert result["byte_identical"]
    assert result["wire_bytes"] > 20_000 * 10


def test_b2_compares_within_each_pass() -> None:
    def lat(p50: float) -> dict[str, float]:
        return {"p50": p50, "p99": p50 * 2}

    results = {
        "B2": {
            "status": "ok",
            "results": {
                "peers": {"gateway": lat(20.0), "direct": lat(19.8), "sts": lat(25.0)},
                "same_engine_peers": {
                    "gateway_shared": lat(15.0),
                    "direct": lat(14.0),
                    "relay": lat(14.1),
                },
            },
        }
    }
    targets = {t.id: t for t in report.build_targets(results)}
    assert targets["B2.p50_vs_direct"].measured == pytest.approx(20.0 / 19.8)
    assert targets["B2.p50_vs_direct.same_engine"].measured == pytest.approx(15.0 / 14.0)
    assert targets["B2.p50_vs_direct.same_engine"].verdict == "FAIL"
    assert targets["B2.p50_vs_sts"].measured == pytest.approx(0.8)
    ratios = report.gateway_ratios(results)["B2"]
    assert ratios["same_engine_p50"]["shared_vs_relay"] == pytest.approx(15.0 / 14.1)
    # The markdown shows the plain relay's own ratio next to the gateway's: the floor.
    lines = report._RENDERERS["B2"](results["B2"]["results"])
    assert "same engine: p50 / direct: gateway_shared 1.07x, relay 1.01x" in lines
