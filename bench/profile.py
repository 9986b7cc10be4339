"""Where the gateway and the engine spend their CPU under each benchmark workload (py-spy).

    python -m bench.profile [--workloads rpc,status,select1,connect,bulk] [--seconds 15] [--out DIR]

Starts the gateway (with its engine for the main user) and the engine direct, runs each
workload in a loop while py-spy samples the gateway process and the Python driver of both
engines (``--nonblocking``: the target is not paused), and prints the functions with the most
samples, by own time and by inclusive time. Raw collapsed stacks stay in ``--out`` (load them in
speedscope or flamegraph.pl). py-spy is a developer tool, not a dependency:
``.venv/bin/pip install py-spy``.
"""

from __future__ import annotations

import argparse
import collections
import logging
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench import procs
from bench.clients import Session
from bench.peers import MAIN_USER, TABLE_1M, Peer, PeerSet

log = logging.getLogger("bench.profile")

Workload = Callable[[Peer, float], int]


def _loop(peer: Peer, seconds: float, body: Callable[[Session], object]) -> int:
    count = 0
    with peer.session() as session:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            body(session)
            count += 1
    return count


def rpc(peer: Peer, seconds: float) -> int:
    with peer.session() as session:
        op = session.execute("SELECT 1")
        session.wait(op)
    return _loop(peer, seconds, lambda s: s.get_info())


def status(peer: Peer, seconds: float) -> int:
    """GetOperationStatus of one finished operation: the gateway's relayed path."""
    count = 0
    with peer.session() as session:
        op = session.execute("SELECT 1")
        session.wait(op)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            session.status(op)
            count += 1
    return count


def select1(peer: Peer, seconds: float) -> int:
    return _loop(peer, seconds, lambda s: s.select1_cycle())


def bulk(peer: Peer, seconds: float) -> int:
    return _loop(peer, seconds, lambda s: s.query(f"SELECT * FROM {TABLE_1M}", 100_000))


def connect(peer: Peer, seconds: float) -> int:
    count = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        Session(peer.host, peer.port, MAIN_USER).close()
        count += 1
    return count


WORKLOADS: dict[str, Workload] = {
    "rpc": rpc,
    "status": status,
    "select1": select1,
    "connect": connect,
    "bulk": bulk,
}


def python_driver(pid: int) -> int | None:
    """The Python process of an engine tree (the gateway launches JVM -> Python)."""
    for member in [pid, *procs.descendants(pid)]:
        if "python" in Path(procs.cmdline(member).split(" ", 1)[0]).name:
            return member
    return None


def sample(
    py_spy: str, pid: int, seconds: float, out: Path, wall: bool = False
) -> subprocess.Popen[bytes]:
    """py-spy on ``pid``; by default only the thread holding the GIL is sampled, which is
    where Python spends CPU (``wall`` also counts threads waiting on sockets and locks)."""
    cmd = [py_spy, "record", "--nonblocking", "--format", "raw", "--rate", "250"]
    cmd += ["--idle"] if wall else ["--gil"]
    cmd += ["--duration", str(int(seconds)), "--pid", str(pid), "--output", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def top_functions(raw: Path, limit: int = 12) -> tuple[int, list[str], list[str]]:
    """``(samples, by own time, by inclusive time)`` from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [
            frame.split(" (")[0] + " " + frame.split("/")[-1].rstrip(")")
            for frame in stack.split(";")
        ]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def fmt(counter: collections.Counter[str]) -> list[str]:
        return [f"{100 * n / total:5.1f}%  {name}" for name, n in counter.most_common(limit)]

    return total, fmt(own), fmt(inclusive) if total else []


def profile(
    peer_set: PeerSet, names: list[str], seconds: float, out: Path, py_spy: str, wall: bool
) -> None:
    gateway = peer_set.gateway()
    direct = peer_set.get("direct")
    for workload in names:
        for peer in [p for p in (gateway, direct) if p is not None and p.proc is not None]:
            targets = {}
            if peer is gateway and gateway.proc is not None:
                targets["gateway"] = gateway.proc.pid
                engine = gateway.engine_pid(MAIN_USER)
                driver = python_driver(engine) if engine else None
                if driver:
                    targets["gateway-engine"] = driver
            elif peer.proc is not None and (driver := python_driver(peer.proc.pid)):
                targets["direct-engine"] = driver
            samplers = {
                role: sample(py_spy, pid, seconds, out / f"{workload}-{role}.txt", wall)
                for role, pid in targets.items()
            }
            result: dict[str, int] = {}

            def drive(
                work: Workload = WORKLOADS[workload],
                target: Peer = peer,
                result: dict[str, int] = result,
            ) -> None:
                result["ops"] = work(target, seconds - 1)

            worker = threading.Thread(target=drive)
            worker.start()
            worker.join(timeout=seconds + 300)
            for proc in samplers.values():
                proc.wait(timeout=seconds + 60)
            print(f"\n## {workload} via {peer.name}: {result.get('ops')} ops in {seconds - 1} s")
            for role in samplers:
                raw = out / f"{workload}-{role}.txt"
                if not raw.exists():
                    print(f"### {role}: no samples")
                    continue
                total, own, inclusive = top_functions(raw)
                print(f"### {role} ({total} samples): own time")
                print("\n".join(own))
                print(f"### {role}: inclusive time")
                print("\n".join(inclusive))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--wall", action="store_true", help="sample waiting threads too")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy is not installed: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    workdir = Path(tempfile.mkdtemp(prefix="kyuubi-profile-"))
    out = args.out or workdir / "profiles"
    out.mkdir(parents=True, exist_ok=True)
    procs.become_subreaper()
    peer_set = PeerSet(workdir / "peers", 1_000_000, 1_000_000)
    try:
        peer_set.start(["gateway", "direct"])
        profile(peer_set, args.workloads.split(","), args.seconds, out, py_spy, args.wall)
    finally:
        peer_set.stop()
        procs.kill_all()
    print(f"\nraw stacks: {out} ({'wall clock' if args.wall else 'GIL holder only'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
