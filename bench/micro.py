"""Micro-benchmarks M1-M4: no JVM, seconds each (performance.md section 7).

* M1 ``encode_trowset_1m_x10``: Arrow arrays -> TRowSet bytes with the project's numpy/pyarrow
  encoder, against the object path (Python lists -> ttypes -> fastbinary), bytes compared.
* M2 ``relay_throughput``: bytes through the relay process (client, relay and sink are three
  processes on the two cores, as client, gateway and engine are).
* M3 ``fastbinary_present``: the C codec imports and the protocol refuses to fall back.
* M4 ``fetch_linearity``: per-row encode cost at 1 000, 10 000 and 100 000 rows.
"""

from __future__ import annotations

import gc
import socket
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from bench import procs

ROWS_M1 = 1_000_000
LINEARITY_ROWS = (1_000, 10_000, 100_000)


# ---------------------------------------------------------------------------- data


def mixed_columns(rows: int, seed: int = 7) -> list[tuple[Any, pa.Array]]:
    """The benchmark table as Arrow arrays in wire form: 3 bigint, 2 int, 2 double, 1 boolean,
    2 string (about 10 characters), 5 % nulls in six columns (as in bench.peers.table_sql)."""
    from kyuubi_py.protocol.rowset import ColumnKind

    ids = np.arange(rows, dtype=np.int64)
    rng = np.random.default_rng(seed)

    def nulls(k: int) -> npt.NDArray[np.bool_]:
        return np.asarray(ids % 20 == k)

    names = pa.array(np.char.add("name_", (ids % 100_000).astype(str)))
    hexes = rng.integers(0, 16**10, size=rows, dtype=np.int64)
    tokens = np.char.mod("%X", hexes)  # like Spark's hex(): upper case, up to 10 digits
    return [
        (ColumnKind.I64, pa.array(ids)),
        (ColumnKind.I64, pa.array(ids * 7919, mask=nulls(1))),
        (ColumnKind.I64, pa.array(ids % 1_000_003, mask=nulls(2))),
        (ColumnKind.I32, pa.array((ids % 2_147_483).astype(np.int32))),
        (ColumnKind.I32, pa.array((ids % 1000).astype(np.int32), mask=nulls(3))),
        (ColumnKind.DOUBLE, pa.array(ids / 3.0)),
        (ColumnKind.DOUBLE, pa.array((ids % 977) * 1.5, mask=nulls(4))),
        (ColumnKind.BOOL, pa.array(ids % 3 == 0, mask=nulls(5))),
        (ColumnKind.STRING, names),
        (ColumnKind.STRING, pa.array(tokens, mask=nulls(6))),
    ]


def _slice(columns: Sequence[tuple[Any, pa.Array]], rows: int) -> list[tuple[Any, pa.Array]]:
    # An offset slice, so the encoder's handling of non-zero array offsets is on the timed path.
    return [(kind, arr.slice(1, rows)) for kind, arr in columns]


def _best_of(repeats: int, action: Callable[[], object]) -> float:
    """Best wall time of ``repeats`` runs: the least disturbed by the other tenants' load."""
    best = float("inf")
    gc.collect()
    gc.disable()  # a collection inside one repeat would be charged to the encoder
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            action()
            best = min(best, time.perf_counter() - start)
    finally:
        gc.enable()
    return best


# ---------------------------------------------------------------------------- M1


def m1_encode_trowset(rows: int = ROWS_M1, repeats: int = 3) -> dict[str, Any]:
    from kyuubi_py.protocol.rowset import (
        columnar_rowset_from_pylists,
        encode_columnar_rowset,
        encode_struct,
    )

    columns = mixed_columns(rows)
    parts = encode_columnar_rowset(columns, 0)
    wire = b"".join(parts)
    arrow_s = _best_of(repeats, lambda: encode_columnar_rowset(columns, 0))

    start = time.perf_counter()
    pylists = [(kind, arr.to_pylist()) for kind, arr in columns]
    rowset = columnar_rowset_from_pylists(pylists, 0)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    reference = encode_struct(rowset)
    encode_s = time.perf_counter() - start
    return {
        "rows": rows,
        "columns": len(columns),
        "wire_bytes": len(wire),
        "parts": len(parts),
        "arrow_encode_s": arrow_s,
        "object_build_s": build_s,
        "object_encode_s": encode_s,
        "object_total_s": build_s + encode_s,
        "speedup": (build_s + encode_s) / arrow_s if arrow_s else None,
        "byte_identical": wire == reference,
    }


# ---------------------------------------------------------------------------- M4


def m4_fetch_linearity(
    sizes: Sequence[int] = LINEARITY_ROWS, budget_rows: int = 1_000_000
) -> dict[str, Any]:
    """Per-row encode time at each size; repeats chosen so each size encodes about
    ``budget_rows`` rows in total (small batches need many repeats to be measurable)."""
    from kyuubi_py.protocol.rowset import encode_columnar_rowset

    columns = mixed_columns(max(sizes) + 1)
    per_row_ns: dict[str, float] = {}
    for size in sizes:
        batch = _slice(columns, size)
        encode_columnar_rowset(batch, 0)  # warm caches and lazy imports
        repeats = max(3, budget_rows // size // 3)
        best = _best_of(repeats, partial(encode_columnar_rowset, batch, 0))
        per_row_ns[str(size)] = best / size * 1e9
    smallest, largest = str(min(sizes)), str(max(sizes))
    return {
        "per_row_ns": per_row_ns,
        "ratio_largest_to_smallest": per_row_ns[largest] / per_row_ns[smallest],
    }


# ---------------------------------------------------------------------------- M3


def m3_fastbinary_present() -> dict[str, Any]:
    result: dict[str, Any] = {"fastbinary": False, "no_fallback_protocol": False}
    try:
        from thrift.protocol import fastbinary  # noqa: F401
        from thrift.protocol.TBinaryProtocol import TBinaryProtocolAccelerated
        from thrift.transport.TTransport import TMemoryBuffer

        result["fastbinary"] = True
        TBinaryProtocolAccelerated(TMemoryBuffer(), fallback=False)
        result["no_fallback_protocol"] = True
    except Exception as exc:  # noqa: BLE001 - the answer is the result, not a crash
        result["error"] = f"{type(exc).__name__}: {exc}"
    result["ok"] = bool(result["fastbinary"] and result["no_fallback_protocol"])
    return result


# ---------------------------------------------------------------------------- M2


FRAME_BYTES = 8 << 20  # about one 100 000-row FetchResults reply of the benchmark table


def m2_relay_throughput(total_bytes: int, workdir: Path) -> dict[str, Any]:
    """Both relay variants: ``framed`` (the gateway's own read/send primitives, frames of
    8 MiB: the target) and ``plain`` (a dumb byte pump: the floor)."""
    framed = _relay_run(total_bytes, workdir, framed=True)
    plain = _relay_run(total_bytes, workdir, framed=False)
    return {
        "bytes": total_bytes,
        "framed_gb_per_s": framed,
        "plain_gb_per_s": plain,
        "framed_path": "kyuubi_py.transport.server open_reader + send_frame, 8 MiB frames",
        "plain_path": "bench.relay blocking recv_into/sendall threads",
    }


def _relay_run(total_bytes: int, workdir: Path, *, framed: bool) -> float:
    """Send ``total_bytes`` through a relay process into a sink process and time it until the
    sink's one-byte acknowledgement, so nothing still in flight is counted as done."""
    root = Path(__file__).parent.parent
    chunk = FRAME_BYTES
    total_bytes -= total_bytes % chunk
    sink = procs.spawn(
        "m2-sink",
        [sys.executable, "-m", "bench.relay", "--sink", "--expect", str(total_bytes)],
        workdir / "m2-sink.log",
        cwd=root,
    )
    relay: procs.Proc | None = None
    try:
        sink_port = int(procs.wait_for_line(sink, r"listening on \S+:(\d+)", 30).group(1))
        relay = procs.spawn(
            "m2-relay",
            [
                sys.executable,
                "-m",
                "bench.relay",
                "--target",
                f"127.0.0.1:{sink_port}",
                *(["--framed"] if framed else []),
            ],
            workdir / "m2-relay.log",
            cwd=root,
        )
        relay_port = int(procs.wait_for_line(relay, r"listening on \S+:(\d+)", 30).group(1))
        seconds = _send_through(relay_port, total_bytes, chunk)
    finally:
        for proc in (relay, sink):
            if proc is not None:
                procs.stop(proc, grace_s=2.0)
    return total_bytes / seconds / 1e9


def _send_through(port: int, total_bytes: int, chunk: int) -> float:
    # Every chunk is one frame: u32 length (of the rest) then payload.
    frame = bytearray(chunk)
    frame[:4] = (chunk - 4).to_bytes(4, "big")
    payload = memoryview(bytes(frame))
    with socket.create_connection(("127.0.0.1", port), timeout=120.0) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.perf_counter()
        remaining = total_bytes
        while remaining > 0:
            step = min(chunk, remaining)
            sock.sendall(payload[:step])
            remaining -= step
        if sock.recv(1) != b"!":
            raise RuntimeError("the sink did not acknowledge the transfer")
        return time.perf_counter() - start
