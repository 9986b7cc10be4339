"""Faults of one tenant's engine stay that tenant's: a frozen or killed engine never stalls
another user, and its user is never routed to somebody else's engine afterwards.

Fake engines (``fake_gateway``): the gateway code is the real one, the engines answer ``whoami``
and ``engine`` (``<refId> <pid>``) without Spark.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from pyhive.exc import OperationalError
from support.gateway_support import GatewayUnderTest, scalar, wait_until

pytestmark = [pytest.mark.timeout(120)]


def engine_of(connection: Any) -> tuple[str, int]:
    ref_id, pid = str(scalar(connection, "engine")).split()
    return ref_id, int(pid)


def process_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return "zombie" in status.read()
    except FileNotFoundError:
        return True


def timed(action: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


def test_a_frozen_engine_stalls_only_its_own_user(fake_gateway: GatewayUnderTest) -> None:
    victim, other = fake_gateway.connect("frozenalice"), fake_gateway.connect("frozenbob")
    _, pid = engine_of(victim)
    os.kill(pid, signal.SIGSTOP)
    try:
        answer, took = timed(lambda: scalar(other, "whoami"))
        assert answer == "frozenbob"
        assert took < 2.0
        fresh, took = timed(lambda: fake_gateway.connect("frozenbob"))
        assert took < 5.0
        assert scalar(fresh, "whoami") == "frozenbob"
        fresh.close()
    finally:
        os.kill(pid, signal.SIGCONT)
    assert scalar(victim, "whoami") == "frozenalice"  # and the victim resumes where it was
    victim.close()
    other.close()


def test_a_killed_engines_user_gets_an_engine_of_her_own_again(
    fake_gateway: GatewayUnderTest,
) -> None:
    victim, other = fake_gateway.connect("killedalice"), fake_gateway.connect("killedbob")
    victim_ref, pid = engine_of(victim)
    other_ref, _ = engine_of(other)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: process_gone(pid), 10, "the engine to die")
    with pytest.raises(OperationalError, match="no longer reachable"):
        scalar(victim, "whoami")
    victim.close()
    assert scalar(other, "whoami") == "killedbob"  # the other tenant never noticed
    again = fake_gateway.connect("killedalice")
    try:
        new_ref, _ = engine_of(again)
        assert new_ref not in (victim_ref, other_ref)
        assert scalar(again, "whoami") == "killedalice"
        assert engine_of(other)[0] == other_ref
    finally:
        again.close()
        other.close()
