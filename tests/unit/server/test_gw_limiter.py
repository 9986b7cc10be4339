"""Connection limits: exact messages, all-or-nothing counting, no leaks (P3, S5)."""

from __future__ import annotations

import threading

import pytest

from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import ConnectionLimitError
from kyuubi_py.server.limiter import ConnectionLimiter


def test_per_user_limit_message() -> None:
    limiter = ConnectionLimiter(per_user=2)
    limiter.acquire("alice", "10.0.0.1")
    limiter.acquire("alice", "10.0.0.2")
    with pytest.raises(ConnectionLimitError) as info:
        limiter.acquire("alice", "10.0.0.3")
    assert info.value.message == "Connection limit per user reached (user: alice limit: 2)"
    limiter.acquire("bob", "10.0.0.1")


def test_per_ip_and_user_ip_messages() -> None:
    limiter = ConnectionLimiter(per_ip=1)
    limiter.acquire("alice", "10.0.0.1")
    with pytest.raises(
        ConnectionLimitError, match=r"per ipaddress reached \(ipaddress: 10.0.0.1 limit: 1\)"
    ):
        limiter.acquire("bob", "10.0.0.1")
    limiter = ConnectionLimiter(per_user_ip=1)
    limiter.acquire("alice", "10.0.0.1")
    limiter.acquire("alice", "10.0.0.2")
    with pytest.raises(
        ConnectionLimitError,
        match=r"per user:ipaddress reached \(user:ipaddress: alice:10.0.0.1 limit: 1\)",
    ):
        limiter.acquire("alice", "10.0.0.1")


def test_failed_acquire_counts_nothing() -> None:
    limiter = ConnectionLimiter(per_user=5, per_ip=1)
    limiter.acquire("alice", "10.0.0.1")
    for _ in range(10):
        with pytest.raises(ConnectionLimitError):
            limiter.acquire("bob", "10.0.0.1")
    assert limiter.counts("bob", "10.0.0.1") == (0, 1, 0)


def test_release_is_idempotent() -> None:
    limiter = ConnectionLimiter(per_user=1)
    ticket = limiter.acquire("alice", "ip")
    ticket.release()
    ticket.release()
    assert limiter.counts("alice", "ip") == (0, 0, 0)
    other = limiter.acquire("alice", "ip")
    ticket.release()  # a stale ticket must not free someone else's count
    assert limiter.counts("alice", "ip") == (1, 1, 1)
    other.release()


def test_user_named_like_an_ip_has_its_own_count() -> None:
    limiter = ConnectionLimiter(per_user=1, per_ip=1)
    limiter.acquire("10.0.0.1", "10.0.0.9")
    limiter.acquire("carol", "10.0.0.1")


def test_from_conf() -> None:
    conf = KyuubiConf({"kyuubi.server.limit.connections.per.user": "3"})
    limiter = ConnectionLimiter.from_conf(conf)
    assert (limiter.per_user, limiter.per_ip, limiter.per_user_ip) == (3, None, None)


def test_parallel_acquires_admit_exactly_the_limit() -> None:
    limiter = ConnectionLimiter(per_user=7)
    admitted: list[object] = []
    refused: list[object] = []
    barrier = threading.Barrier(50)

    def attempt() -> None:
        barrier.wait()
        try:
            admitted.append(limiter.acquire("alice", "ip"))
        except ConnectionLimitError as exc:
            refused.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 7 and len(refused) == 43
    for ticket in admitted:
        ticket.release()  # type: ignore[attr-defined]
    assert limiter.counts("alice", "ip") == (0, 0, 0)
