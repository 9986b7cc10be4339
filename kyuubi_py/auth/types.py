"""Which clients the gateway lets in, computed from ``kyuubi.authentication``.

The port serves two kinds of clients: SASL PLAIN (user and password, checked by a provider) and
NOSASL (a bare Thrift stream that carries a user name nobody has verified). The rules:

- At most one password method (NONE, LDAP or CUSTOM) may be listed. Kyuubi silently uses the first
  and ignores the rest; here ``LDAP,NONE`` is a start-up error, because a reader of the config
  could not tell whether passwords are checked.
- NONE accepts SASL PLAIN with any password *and* NOSASL clients: neither proves anything, and
  impyla's default transport is NOSASL, so one port serves both.
- NOSASL alone accepts only NOSASL clients.
- NOSASL together with LDAP or CUSTOM is refused: a NOSASL client could then name any user
  without a password, so listing it would switch the password check off.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from kyuubi_py.auth.ldap import LdapAuthenticationProvider
from kyuubi_py.auth.provider import (
    LOGIN_FAILED,
    AnonymousProvider,
    PasswdAuthenticationProvider,
    load_custom_provider,
    validate_user_name,
)
from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import AuthenticationError, ConfigError

__all__ = [
    "AuthPolicy",
    "AuthType",
    "Authenticator",
    "build_authenticator",
    "build_provider",
    "make_authenticator",
]

log = logging.getLogger(__name__)

#: ``authenticate(user, password) -> canonical user``; raises AuthenticationError to reject.
Authenticator = Callable[[str, str], str]

# Kyuubi methods this gateway does not implement: named in the error instead of "unknown".
_UNSUPPORTED = ("KERBEROS", "JDBC")


class AuthType(enum.Enum):
    NOSASL = "NOSASL"
    NONE = "NONE"
    LDAP = "LDAP"
    CUSTOM = "CUSTOM"

    @property
    def is_password_method(self) -> bool:
        """Whether this method checks SASL PLAIN credentials."""
        return self is not AuthType.NOSASL


@dataclass(frozen=True)
class AuthPolicy:
    """What the frontend accepts: ``plain`` is the SASL PLAIN method (``None``: SASL refused)."""

    methods: tuple[AuthType, ...]
    plain: AuthType | None
    allow_nosasl: bool

    @property
    def allow_sasl(self) -> bool:
        return self.plain is not None

    @classmethod
    def from_conf(cls, conf: KyuubiConf) -> AuthPolicy:
        return cls.from_methods(conf.get(keys.AUTHENTICATION_METHOD))

    @classmethod
    def from_methods(cls, names: tuple[str, ...] | list[str]) -> AuthPolicy:
        methods = _parse_methods(names)
        plain_methods = [m for m in methods if m.is_password_method]
        if len(plain_methods) > 1:
            raise ConfigError(
                "kyuubi.authentication lists more than one password method "
                f"({', '.join(m.value for m in plain_methods)}); list exactly one of NONE, LDAP, "
                "CUSTOM"
            )
        plain = plain_methods[0] if plain_methods else None
        if AuthType.NOSASL in methods and plain in (AuthType.LDAP, AuthType.CUSTOM):
            assert plain is not None
            raise ConfigError(
                f"kyuubi.authentication must not combine NOSASL with {plain.value}: a NOSASL "
                "client carries no verified identity, so it could connect as any user without a "
                f"password and bypass {plain.value}"
            )
        allow_nosasl = AuthType.NOSASL in methods or plain is AuthType.NONE
        return cls(methods, plain, allow_nosasl)


def _parse_methods(names: tuple[str, ...] | list[str]) -> tuple[AuthType, ...]:
    methods: list[AuthType] = []
    for raw in names:
        name = raw.strip().upper()
        if name in _UNSUPPORTED:
            raise ConfigError(f"kyuubi.authentication: {name} is not supported by kyuubi_py")
        try:
            method = AuthType(name)
        except ValueError:
            raise ConfigError(
                f"kyuubi.authentication: unknown method {raw!r} (expected NOSASL, NONE, LDAP or "
                "CUSTOM)"
            ) from None
        if method not in methods:
            methods.append(method)
    if not methods:
        raise ConfigError("kyuubi.authentication must name at least one method")
    return tuple(methods)


def build_provider(
    conf: KyuubiConf, policy: AuthPolicy | None = None
) -> PasswdAuthenticationProvider | None:
    """The SASL PLAIN provider of ``conf``, or ``None`` when SASL is refused (NOSASL only).

    Keep the result when the gateway also needs groups: an LDAP provider is a
    :class:`~kyuubi_py.auth.provider.GroupProvider`.
    """
    plain = (policy or AuthPolicy.from_conf(conf)).plain
    if plain is None:
        return None
    if plain is AuthType.NONE:
        return AnonymousProvider()
    if plain is AuthType.LDAP:
        return LdapAuthenticationProvider(conf)
    return load_custom_provider(conf.get(keys.AUTHENTICATION_CUSTOM_CLASS), conf)


def make_authenticator(provider: PasswdAuthenticationProvider) -> Authenticator:
    """Wrap ``provider`` in the checks every method shares: a valid name in, a valid name out,
    and any failure (including a provider bug or an unreachable directory) is a rejection."""

    def authenticate(user: str, password: str) -> str:
        validate_user_name(user)
        try:
            result = provider.authenticate(user, password)
        except AuthenticationError:
            raise
        except Exception:
            # Fail closed: a crash in a provider must never look like a success, and its text
            # may hold details the client must not see.
            log.exception("Authentication provider %s failed for user %r", _name(provider), user)
            raise AuthenticationError(LOGIN_FAILED) from None
        return validate_user_name(_canonical(provider, user, result))

    return authenticate


def _canonical(provider: PasswdAuthenticationProvider, user: str, result: object) -> str:
    if result is None:
        return user
    if isinstance(result, str):
        return result
    # A provider that returns False to mean "no" must not let the user in.
    log.error(
        "Authentication provider %s returned %s for user %r; expected str or None, rejecting",
        _name(provider),
        type(result).__name__,
        user,
    )
    raise AuthenticationError(LOGIN_FAILED)


def _name(provider: object) -> str:
    return f"{type(provider).__module__}.{type(provider).__qualname__}"


def build_authenticator(conf: KyuubiConf) -> Authenticator | None:
    """The SASL PLAIN check for the frontend, or ``None`` when SASL is refused."""
    provider = build_provider(conf)
    return None if provider is None else make_authenticator(provider)
