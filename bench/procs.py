"""Subprocess plumbing for the peers: spawn in own process groups, wait for readiness lines,
read RSS/CPU from /proc, and kill everything we started, however it was started.

Engines launched by the gateway may be detached from it (their own session) and would be
reparented to init if the gateway died first; the harness makes itself a child subreaper so such
orphans come back to it and :func:`kill_all` still finds them.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_CHILD_SUBREAPER = 36
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def become_subreaper() -> bool:
    """Make orphaned descendants (engines whose gateway died) our children. Linux only; a
    failure just means cleanup relies on the descendant snapshots."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


# ---------------------------------------------------------------------------- /proc readers


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rfind(")") + 2 :].split()


def parent_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def children_map() -> dict[int, list[int]]:
    """ppid -> pids, from one scan of /proc (cheap enough: a few hundred processes)."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is None:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def descendants(pid: int, tree: Mapping[int, list[int]] | None = None) -> list[int]:
    """All live descendants of ``pid`` (not ``pid`` itself), parents before children."""
    tree = children_map() if tree is None else tree
    found: list[int] = []
    pending = list(tree.get(pid, []))
    while pending:
        child = pending.pop(0)
        found.append(child)
        pending.extend(tree.get(child, []))
    return found


def rss_kb(pid: int) -> int | None:
    """Resident set size (VmRSS) of one process in KiB, None once it is gone."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE_KB
    except (OSError, ValueError, IndexError):
        return None


def tree_rss_kb(pid: int) -> int | None:
    """RSS of ``pid`` plus all its descendants (an engine is a Python driver plus its JVM)."""
    own = rss_kb(pid)
    if own is None:
        return None
    return own + sum(rss_kb(child) or 0 for child in descendants(pid))


def thread_count(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[17]) if fields else None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of one process so far."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def tree_cpu_seconds(pid: int) -> float | None:
    own = cpu_seconds(pid)
    if own is None:
        return None
    return own + sum(cpu_seconds(child) or 0.0 for child in descendants(pid))


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def tree_rss_detail_kb(pid: int) -> dict[str, int]:
    """RSS of each process of a tree, keyed ``<pid> <program>`` (JVM vs Python driver)."""
    detail: dict[str, int] = {}
    for member in [pid, *descendants(pid)]:
        rss = rss_kb(member)
        if rss is not None:
            program = Path(cmdline(member).split(" ", 1)[0]).name or "?"
            detail[f"{member} {program}"] = rss
    return detail


def is_alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


# ---------------------------------------------------------------------------- processes


@dataclass
class Proc:
    """A process we started, in its own process group, with its output in ``log_path``."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    _seen: set[int] = field(default_factory=set)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def remember_descendants(self) -> None:
        """Snapshot the descendants, so they can be killed even after this process is gone."""
        self._seen.update(descendants(self.pid))


_REGISTRY: list[Proc] = []
_REGISTRY_LOCK = threading.Lock()


def spawn(
    name: str,
    cmd: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Proc:
    """Start ``cmd`` in a new session (its own process group, so one signal reaches its whole
    group and the terminal's Ctrl-C does not); stdout and stderr go to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as out:
        popen = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    proc = Proc(name, popen, log_path)
    with _REGISTRY_LOCK:
        _REGISTRY.append(proc)
    log.info("started %s (pid %d): %s", name, popen.pid, " ".join(cmd)[:300])
    return proc


def wait_for_line(proc: Proc, pattern: str, timeout_s: float, poll_s: float = 0.1) -> re.Match[str]:
    """Poll the process output until ``pattern`` matches a line; fail fast if it exits."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout_s
    while True:
        match = regex.search(proc.output())
        if match:
            return match
        if not proc.alive():
            raise RuntimeError(
                f"{proc.name} exited with {proc.popen.returncode} before it was ready:\n"
                f"{proc.tail()}"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"{proc.name} not ready after {timeout_s:.0f} s:\n{proc.tail()}")
        time.sleep(poll_s)


def _signal_pids(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        for send in (os.killpg, os.kill):
            try:
                send(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


def kill_pids(pids: Sequence[int], grace_s: float = 5.0) -> None:
    """SIGTERM each pid, its process group and its descendants (an engine's Python driver is a
    child of its JVM), wait up to ``grace_s`` for all of them, then SIGKILL the survivors."""
    roots = [pid for pid in pids if pid != os.getpid() and is_alive(pid)]
    if not roots:
        return
    tree = children_map()
    targets = list(dict.fromkeys(roots + [d for pid in roots for d in descendants(pid, tree)]))
    targets = [pid for pid in targets if pid != os.getpid()]
    # Process groups only for group leaders; os.killpg on a non-leader pid fails harmlessly.
    _signal_pids(targets, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(is_alive(pid) for pid in targets):
        _reap()
        time.sleep(0.05)
    _signal_pids([pid for pid in targets if is_alive(pid)], signal.SIGKILL)
    _reap()


def stop(proc: Proc, grace_s: float = 8.0) -> None:
    """Stop ``proc`` and everything it started (including detached engines)."""
    proc.remember_descendants()
    kill_pids([proc.pid], grace_s)
    try:
        proc.popen.wait(timeout=2.0)
    except subprocess.TimeoutExpired:
        pass
    # Descendants seen earlier and any still around (reparented to us as subreaper).
    kill_pids(sorted(proc._seen), grace_s=3.0)


def _reap() -> None:
    """Collect exited orphans reparented to us, so they do not linger as zombies."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_all() -> None:
    """Last-resort cleanup at the end of a run: every registered process, then any remaining
    descendant of the harness (orphaned engines come back to us as subreaper)."""
    with _REGISTRY_LOCK:
        procs = list(reversed(_REGISTRY))
    for proc in procs:
        try:
            stop(proc, grace_s=5.0)
        except Exception:  # noqa: BLE001 - cleanup must go on whatever one process does
            log.exception("stopping %s failed", proc.name)
    _reap()
    leftovers = [pid for pid in descendants(os.getpid()) if is_alive(pid)]
    if leftovers:
        names = "; ".join(cmdline(pid)[:120] for pid in leftovers)
        log.info("killing %d leftover descendant processes: %s", len(leftovers), names)
        kill_pids(leftovers, grace_s=3.0)


# ---------------------------------------------------------------------------- sampling


class PeakRssSampler:
    """Samples the RSS of a set of pids in a background thread and keeps the peak of each and of
    their sum (the gateway must stay bounded while a large result streams through it)."""

    def __init__(self, pids: Mapping[str, int], interval_s: float = 0.02, tree: bool = False):
        self._pids = dict(pids)
        self._interval_s = interval_s
        self._tree = tree
        self.peak_kb: dict[str, int] = {name: 0 for name in pids}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _read(self, pid: int) -> int | None:
        return tree_rss_kb(pid) if self._tree else rss_kb(pid)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self._pids.items():
                value = self._read(pid)
                if value is not None and value > self.peak_kb[name]:
                    self.peak_kb[name] = value
            self.samples += 1
            self._stop.wait(self._interval_s)

    def __enter__(self) -> PeakRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
