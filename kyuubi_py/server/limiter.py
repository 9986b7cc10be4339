"""Connection limits per user, per client IP and per user+IP (pure, thread-safe).

:meth:`ConnectionLimiter.acquire` checks all three limits and counts all three in one step, or
counts nothing (Kyuubi raises them one after another and leaks the first when a later one
fails). Each kind has its own table, so a user named like an IP address never shares that
address's count. The returned :class:`Ticket` gives the counts back exactly once, whichever of
the failure and close paths gets to it first (Kyuubi #7759: a leaked count locks a user out).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TypeVar

from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import ConnectionLimitError
from kyuubi_py.server.conf import (
    SERVER_LIMIT_CONNECTIONS_PER_IPADDRESS,
    SERVER_LIMIT_CONNECTIONS_PER_USER,
    SERVER_LIMIT_CONNECTIONS_PER_USER_IPADDRESS,
)

K = TypeVar("K")

#: SQL state of a refused connection attempt.
LIMIT_SQL_STATE = "08004"


@dataclass
class Ticket:
    limiter: ConnectionLimiter
    user: str
    ip: str
    _released: bool = field(default=False, repr=False)

    def release(self) -> None:
        """Give the counts back; later calls do nothing."""
        self.limiter._release(self)


class ConnectionLimiter:
    def __init__(
        self,
        per_user: int | None = None,
        per_ip: int | None = None,
        per_user_ip: int | None = None,
    ) -> None:
        self.per_user = per_user
        self.per_ip = per_ip
        self.per_user_ip = per_user_ip
        self._users: Counter[str] = Counter()
        self._ips: Counter[str] = Counter()
        self._user_ips: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    @classmethod
    def from_conf(cls, conf: KyuubiConf) -> ConnectionLimiter:
        return cls(
            conf.get(SERVER_LIMIT_CONNECTIONS_PER_USER),
            conf.get(SERVER_LIMIT_CONNECTIONS_PER_IPADDRESS),
            conf.get(SERVER_LIMIT_CONNECTIONS_PER_USER_IPADDRESS),
        )

    def acquire(self, user: str, ip: str) -> Ticket:
        with self._lock:
            self._check(user, ip)
            self._users[user] += 1
            self._ips[ip] += 1
            self._user_ips[(user, ip)] += 1
        return Ticket(self, user, ip)

    def _check(self, user: str, ip: str) -> None:
        if self.per_user_ip is not None and self._user_ips[(user, ip)] >= self.per_user_ip:
            raise ConnectionLimitError(
                f"Connection limit per user:ipaddress reached (user:ipaddress: {user}:{ip} "
                f"limit: {self.per_user_ip})",
                LIMIT_SQL_STATE,
            )
        if self.per_user is not None and self._users[user] >= self.per_user:
            raise ConnectionLimitError(
                f"Connection limit per user reached (user: {user} limit: {self.per_user})",
                LIMIT_SQL_STATE,
            )
        if self.per_ip is not None and self._ips[ip] >= self.per_ip:
            raise ConnectionLimitError(
                f"Connection limit per ipaddress reached (ipaddress: {ip} limit: {self.per_ip})",
                LIMIT_SQL_STATE,
            )

    def _release(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket._released:
                return
            ticket._released = True
            _decrement(self._users, ticket.user)
            _decrement(self._ips, ticket.ip)
            _decrement(self._user_ips, (ticket.user, ticket.ip))

    def counts(self, user: str, ip: str) -> tuple[int, int, int]:
        """``(per user, per ip, per user+ip)`` open counts, for tests and monitoring."""
        with self._lock:
            return self._users[user], self._ips[ip], self._user_ips[(user, ip)]


def _decrement(counter: Counter[K], key: K) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]  # keep the tables as small as the set of connected users
