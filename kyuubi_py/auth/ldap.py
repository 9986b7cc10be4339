"""LDAP password authentication (Kyuubi's ``LdapAuthenticationProviderImpl``). The only module that
imports ldap3.

How a login is checked:

1. Before any network call: the user name must be a valid session user name without DN or filter
   metacharacters (``,=+<>#;*()"\\`` and NUL, the Trino rule), and the password must not be
   empty, white space only, or contain NUL (CVE-2015-1772: an empty password is an
   "unauthenticated bind" that many servers, Active Directory among them, report as a success).
   So a user-supplied DN is never accepted as a user name; the session user is always the
   directory's ``guidKey`` value.
2. With ``binddn``/``bindpw``: bind as the bind user, find exactly one entry for the user (by the
   ``userDNPattern`` RDNs, else by ``(&(objectClass=*)(<guidKey>=<user>))`` under ``baseDN``),
   apply the filters, then bind as that entry's DN with the user's password.
3. Without a bind user: bind as the user, trying Kyuubi's candidate principals in order (the name
   as given when it has ``@``; else ``user@domain``; else each ``userDNPattern``; else
   ``<guidKey>=<user>,<baseDN>``), then read the user's own entry and apply the filters with that
   connection.
4. Filters: ``customLDAPQuery`` alone when set (the user's entry, or a group listing the user's
   DN, must match it); otherwise ``userFilter`` (allowed names) then ``groupFilter`` (allowed
   groups).

Every bind is SIMPLE (never ldap3's silent anonymous fallback). Every user-supplied string is
escaped (``escape_rdn`` in DNs, ``escape_filter_chars`` in filters) even though step 1 already
rejects the characters that matter. Any error (unreachable server, timeout, protocol error) fails
the login; the client only ever sees :data:`~kyuubi_py.auth.provider.LOGIN_FAILED`.
"""

from __future__ import annotations

import logging
import math
import re
import ssl
import string
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ldap3 import BASE, LEVEL, NONE, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPCommunicationError, LDAPException
from ldap3.operation.search import parse_filter
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn, parse_dn

from kyuubi_py.auth import conf as auth_keys
from kyuubi_py.auth.provider import LOGIN_FAILED, user_name_problem, validate_user_name
from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import AuthenticationError, ConfigError

__all__ = [
    "DN_METACHARACTERS",
    "LdapAuthenticationProvider",
    "LdapEndpoint",
    "LdapSettings",
    "candidate_principals",
    "check_credentials",
    "custom_query_filter",
    "group_search_filter",
    "normalize_dn",
    "parse_urls",
    "pattern_parts",
    "pick_canonical",
    "rdn_value",
    "user_search_filter",
]

log = logging.getLogger(__name__)

#: Characters refused in LDAP user names: RFC 4514 DN specials plus RFC 4515 filter specials.
DN_METACHARACTERS = frozenset(',=+<>#;*()"\\\x00')

_ATTRIBUTE_NAME = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)$")
_DEFAULT_PORTS = {"ldap": 389, "ldaps": 636}
_NO_ATTRIBUTES = ["1.1"]
_PLACEHOLDER = "kyuubi-user-placeholder"
# Two results are enough to know that a user name is ambiguous.
_USER_SEARCH_LIMIT = 2
_GROUP_SEARCH_LIMIT = 1000
# Result codes of a search that ended normally: success, sizeLimitExceeded, noSuchObject.
_SEARCH_OK = (0, 4, 32)
# Groups remembered from logins in direct-bind mode, where they cannot be looked up later.
_LOGIN_GROUPS_CACHE_SIZE = 10000


# -- settings -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LdapEndpoint:
    url: str
    host: str
    port: int
    use_ssl: bool


def parse_urls(text: str | None) -> tuple[LdapEndpoint, ...]:
    """The servers of ``kyuubi.authentication.ldap.url`` (space-separated, tried in order)."""
    endpoints = tuple(_parse_url(url) for url in (text or "").split())
    if not endpoints:
        raise ConfigError("kyuubi.authentication.ldap.url must be set when LDAP is used")
    return endpoints


def _parse_url(url: str) -> LdapEndpoint:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ConfigError(f"LDAP URL {url!r} must start with ldap:// or ldaps://")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise ConfigError(f"LDAP URL {url!r} has an invalid port") from exc
    if not parts.hostname or parts.path.strip("/") or parts.query or parts.username:
        # A base DN or credentials in the URL would silently be ignored; say so instead.
        raise ConfigError(f"LDAP URL {url!r} must be ldap[s]://host[:port] only")
    return LdapEndpoint(url, parts.hostname, port, scheme == "ldaps")


@dataclass(frozen=True)
class LdapSettings:
    """The LDAP keys of a :class:`KyuubiConf`, validated once at start-up."""

    endpoints: tuple[LdapEndpoint, ...]
    base_dn: str | None = None
    domain: str | None = None
    user_dn_patterns: tuple[str, ...] = ()
    group_dn_patterns: tuple[str, ...] = ()
    bind_dn: str | None = None
    bind_password: str | None = None
    user_filter: tuple[str, ...] = ()
    group_filter: tuple[str, ...] = ()
    guid_key: str = "uid"
    group_class_key: str = "groupOfNames"
    group_membership_key: str = "member"
    custom_query: str | None = None
    connect_timeout: float = 5.0
    receive_timeout: float = 10.0
    ca_file: str | None = None

    @property
    def uses_bind_user(self) -> bool:
        return self.bind_dn is not None

    @property
    def group_bases(self) -> tuple[str, ...]:
        """Where groups are searched: each ``groupDNPattern``'s parent, else ``baseDN``."""
        if self.group_dn_patterns:
            return tuple(pattern_parts(p)[1] for p in self.group_dn_patterns)
        return (self.base_dn,) if self.base_dn else ()

    @classmethod
    def from_conf(cls, conf: KyuubiConf) -> LdapSettings:
        settings = cls(
            endpoints=parse_urls(conf.get(keys.AUTHENTICATION_LDAP_URL)),
            base_dn=_blank_to_none(conf.get(keys.AUTHENTICATION_LDAP_BASE_DN)),
            domain=_blank_to_none(conf.get(keys.AUTHENTICATION_LDAP_DOMAIN)),
            user_dn_patterns=_patterns(conf.get(keys.AUTHENTICATION_LDAP_USER_DN_PATTERN)),
            group_dn_patterns=_patterns(conf.get(keys.AUTHENTICATION_LDAP_GROUP_DN_PATTERN)),
            bind_dn=_blank_to_none(conf.get(keys.AUTHENTICATION_LDAP_BIND_USER)),
            bind_password=conf.get(keys.AUTHENTICATION_LDAP_BIND_PASSWORD) or None,
            user_filter=conf.get(keys.AUTHENTICATION_LDAP_USER_FILTER),
            group_filter=conf.get(keys.AUTHENTICATION_LDAP_GROUP_FILTER),
            guid_key=conf.get(keys.AUTHENTICATION_LDAP_GUID_KEY) or "uid",
            group_class_key=conf.get(keys.AUTHENTICATION_LDAP_GROUP_CLASS_KEY) or "groupOfNames",
            group_membership_key=conf.get(keys.AUTHENTICATION_LDAP_GROUP_MEMBERSHIP_KEY)
            or "member",
            custom_query=_blank_to_none(conf.get(keys.AUTHENTICATION_LDAP_CUSTOM_LDAP_QUERY)),
            connect_timeout=conf.get(auth_keys.AUTHENTICATION_LDAP_CONNECT_TIMEOUT),
            receive_timeout=conf.get(auth_keys.AUTHENTICATION_LDAP_RECEIVE_TIMEOUT),
            ca_file=_blank_to_none(conf.get(auth_keys.AUTHENTICATION_LDAP_SSL_CA_FILE)),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise :class:`ConfigError` for settings that could never log anyone in, or that
        would check less than they appear to."""
        if not self.endpoints:
            raise ConfigError("kyuubi.authentication.ldap.url must be set when LDAP is used")
        if (self.bind_dn is None) != (self.bind_password is None):
            raise ConfigError(
                "kyuubi.authentication.ldap.binddn and bindpw must be set together (or neither)"
            )
        for name, value in (
            ("guidKey", self.guid_key),
            ("groupClassKey", self.group_class_key),
            ("groupMembershipKey", self.group_membership_key),
        ):
            if not _ATTRIBUTE_NAME.match(value):
                raise ConfigError(
                    f"kyuubi.authentication.ldap.{name} {value!r} is not an attribute name"
                )
        for pattern in self.user_dn_patterns + self.group_dn_patterns:
            pattern_parts(pattern)
        self._validate_lookup()
        self._validate_filters()
        if self.connect_timeout <= 0 or self.receive_timeout <= 0:
            raise ConfigError("LDAP connect and receive timeouts must be positive")

    def _validate_lookup(self) -> None:
        if self.uses_bind_user and not (self.base_dn or self.user_dn_patterns):
            raise ConfigError(
                "kyuubi.authentication.ldap.binddn needs baseDN or userDNPattern to find users"
            )
        if not self.uses_bind_user and not (self.base_dn or self.user_dn_patterns or self.domain):
            raise ConfigError(
                "LDAP needs kyuubi.authentication.ldap.baseDN, userDNPattern, domain or binddn "
                "to turn a user name into something it can bind as"
            )

    def _validate_filters(self) -> None:
        if self.custom_query is not None:
            if not self.base_dn:
                raise ConfigError("kyuubi.authentication.ldap.customLDAPQuery needs baseDN")
            try:
                parse_filter(_parenthesized(self.custom_query), None, False, False, None, False)
            except LDAPException as exc:
                raise ConfigError(
                    f"kyuubi.authentication.ldap.customLDAPQuery is not a valid LDAP filter: {exc}"
                ) from exc
        if self.group_filter and not self.group_bases:
            raise ConfigError(
                "kyuubi.authentication.ldap.groupFilter needs baseDN or groupDNPattern"
            )


def _blank_to_none(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def _patterns(value: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (value or "").split(":") if p.strip())


def _parenthesized(query: str) -> str:
    query = query.strip()
    return query if query.startswith("(") else f"({query})"


def pattern_parts(pattern: str) -> tuple[str, str]:
    """``("uid", "ou=people,dc=example,dc=com")`` for ``uid=%s,ou=people,dc=example,dc=com``."""
    try:
        components = parse_dn(pattern.replace("%s", _PLACEHOLDER), strip=True)
    except LDAPException as exc:
        raise ConfigError(f"LDAP DN pattern {pattern!r} is not a DN: {exc}") from exc
    if len(components) < 2 or components[0][1] != _PLACEHOLDER or components[0][2] != ",":
        raise ConfigError(
            f"LDAP DN pattern {pattern!r} must look like attr=%s,<parent DN> (one %s, in the "
            "first RDN)"
        )
    if pattern.count("%s") != 1:
        raise ConfigError(f"LDAP DN pattern {pattern!r} must contain %s exactly once")
    parent = "".join(f"{attr}={value}{sep}" for attr, value, sep in components[1:])
    return components[0][0], parent


# -- pure helpers (unit-tested without a server) ------------------------------------------------


def check_credentials(user: str, password: str) -> None:
    """The checks made before any network call; raises :class:`AuthenticationError`."""
    validate_user_name(user)
    if any(ch in DN_METACHARACTERS for ch in user):
        raise _login_failed("user %r rejected: contains a DN or filter metacharacter", user)
    if not password or password.startswith("\x00"):
        raise _login_failed("user %r rejected: empty or NUL-leading password", user)
    if not password.strip():
        raise _login_failed("user %r rejected: white-space-only password", user)
    if "\x00" in password:
        # Never part of a real password, and C code behind a server may cut the string there.
        raise _login_failed("user %r rejected: password contains NUL", user)


def candidate_principals(user: str, settings: LdapSettings) -> list[str]:
    """What to bind as in direct mode, in Kyuubi's order; only the first branch that applies."""
    if "@" in user:
        return [user]
    if settings.domain:
        return [f"{user}@{settings.domain}"]
    if settings.user_dn_patterns:
        return [p.replace("%s", escape_rdn(user)) for p in settings.user_dn_patterns]
    if settings.base_dn:
        return [f"{settings.guid_key}={escape_rdn(user)},{settings.base_dn}"]
    return []


def user_search_filter(attribute: str, user: str) -> str:
    return f"(&(objectClass=*)({attribute}={escape_filter_chars(user)}))"


def group_search_filter(group_class_key: str, membership_key: str, user_dn: str) -> str:
    # HIVE-28540: the DN goes into a filter, so its backslashes and parentheses are escaped too.
    return (
        f"(&(objectClass={escape_filter_chars(group_class_key)})"
        f"({membership_key}={escape_filter_chars(user_dn)}))"
    )


def custom_query_filter(query: str, guid_key: str, user: str, membership_key: str, dn: str) -> str:
    """Entries that match the admin's query and are the user (by name) or list the user's DN."""
    return (
        f"(&{_parenthesized(query)}(|({guid_key}={escape_filter_chars(user)})"
        f"({membership_key}={escape_filter_chars(dn)})))"
    )


def rdn_value(dn: str) -> str:
    """The unescaped value of the first RDN: ``analysts`` for ``cn=analysts,ou=groups,...``."""
    return _unescape_dn_value(parse_dn(dn, strip=True)[0][1])


def normalize_dn(dn: str) -> str:
    """A comparable form of ``dn``: spacing removed, escapes resolved, case folded (the naming
    attributes LDAP directories use — uid, cn, ou, dc — all match case-insensitively)."""
    return ",".join(
        f"{attr.lower()}={_unescape_dn_value(value).casefold()}"
        for attr, value, _ in parse_dn(dn, strip=True)
    )


def _unescape_dn_value(value: str) -> str:
    out = bytearray()
    i = 0
    while i < len(value):
        pair = value[i + 1 : i + 3]
        if value[i] == "\\" and len(pair) == 2 and all(c in string.hexdigits for c in pair):
            out.append(int(pair, 16))
            i += 3
        elif value[i] == "\\" and i + 1 < len(value):
            out += value[i + 1].encode("utf-8")
            i += 2
        else:
            out += value[i].encode("utf-8")
            i += 1
    return out.decode("utf-8", "replace")


def pick_canonical(values: Sequence[str], user: str) -> str | None:
    """The directory's spelling of ``user`` among the entry's ``guidKey`` values: the one equal
    to ``user`` ignoring case, else the only value; ``None`` when that is ambiguous."""
    matching = [v for v in values if v.casefold() == user.casefold()]
    if matching:
        return matching[0]
    return values[0] if len(values) == 1 else None


def _login_failed(reason: str, *args: object) -> AuthenticationError:
    log.warning("LDAP login failed: " + reason, *args)
    return AuthenticationError(LOGIN_FAILED)


# -- the provider -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _UserEntry:
    dn: str
    name: str


class LdapAuthenticationProvider:
    """LDAP for SASL PLAIN (see the module doc), and the user's groups for GROUP share level.

    Thread-safe: each login opens its own connections and closes them before returning.
    """

    def __init__(self, conf: KyuubiConf | LdapSettings) -> None:
        self._settings = conf if isinstance(conf, LdapSettings) else LdapSettings.from_conf(conf)
        self._settings.validate()
        self._receive_timeout_s = max(1, math.ceil(self._settings.receive_timeout))
        self._login_groups: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def settings(self) -> LdapSettings:
        return self._settings

    def _server(self, endpoint: LdapEndpoint) -> Server:
        # A fresh Server per connection: ldap3 keeps per-address availability state in it,
        # which concurrent logins would share and which would keep a restarted server marked
        # down for a while.
        tls = None
        if endpoint.use_ssl:
            # ldap3 verifies the host name itself once the handshake is done.
            tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=self._settings.ca_file)
        return Server(
            endpoint.host,
            port=endpoint.port,
            use_ssl=endpoint.use_ssl,
            tls=tls,
            get_info=NONE,  # no schema read after each bind: one round trip less per login
            connect_timeout=self._settings.connect_timeout,
        )

    # -- authentication --------------------------------------------------------------------------
    def authenticate(self, user: str, password: str) -> str:
        """The directory's spelling of ``user`` (its ``guidKey`` value); raises
        :class:`AuthenticationError` on any failure."""
        check_credentials(user, password)
        try:
            if self._settings.uses_bind_user:
                entry = self._authenticate_with_bind_user(user, password)
            else:
                entry = self._authenticate_directly(user, password)
        except AuthenticationError:
            raise
        except Exception as exc:
            # Unreachable server, timeout, protocol or TLS error: fail closed. (ldap3 lets some
            # socket, ssl and struct errors escape unwrapped, so this is not just LDAPException.)
            raise _login_failed(
                "user %r: LDAP error %s: %s", user, type(exc).__name__, exc
            ) from None
        log.info("LDAP login of %r succeeded as %r (%s)", user, entry.name, entry.dn)
        return entry.name

    def _authenticate_with_bind_user(self, user: str, password: str) -> _UserEntry:
        with self._bind_service() as conn:
            entry = self._find_user(conn, user)
            self._apply_filters(conn, entry)
        with self._bind(entry.dn, password) as user_conn:
            if user_conn is None:
                raise _login_failed("user %r: wrong password for %s", user, entry.dn)
        return entry

    def _authenticate_directly(self, user: str, password: str) -> _UserEntry:
        for principal in candidate_principals(user, self._settings):
            with self._bind(principal, password) as conn:
                if conn is None:
                    continue
                entry = self._bound_entry(conn, principal, user)
                groups = self._apply_filters(conn, entry)
                self._remember_groups(entry, conn, groups)
                return entry
        raise _login_failed("user %r: no candidate principal accepted the password", user)

    @contextmanager
    def _bind_service(self) -> Iterator[Connection]:
        settings = self._settings
        assert settings.bind_dn is not None and settings.bind_password is not None
        with self._bind(settings.bind_dn, settings.bind_password) as conn:
            if conn is None:
                # The gateway's own credentials are wrong: a server fault, so log it loudly.
                log.error(
                    "LDAP bind user %s was refused; check binddn and bindpw", settings.bind_dn
                )
                raise AuthenticationError(LOGIN_FAILED)
            yield conn

    @contextmanager
    def _bind(self, principal: str, password: str) -> Iterator[Connection | None]:
        """A connection bound as ``principal``, or ``None`` when the directory refused the
        credentials. Servers are tried in order while they cannot be reached; if none can,
        the last communication error propagates."""
        conn = self._bind_first_reachable(principal, password)
        try:
            yield conn
        finally:
            if conn is not None:
                _close(conn)

    def _bind_first_reachable(self, principal: str, password: str) -> Connection | None:
        failure: LDAPCommunicationError | None = None
        for endpoint in self._settings.endpoints:
            conn = Connection(
                self._server(endpoint),
                user=principal,
                password=password,
                authentication=SIMPLE,  # never ldap3's anonymous fallback
                # ldap3 packs this into SO_RCVTIMEO as whole seconds: a float breaks it.
                receive_timeout=self._receive_timeout_s,
                auto_referrals=False,  # never send the user's password to a referred server
                read_only=True,
                raise_exceptions=False,
            )
            try:
                conn.open()
                if conn.bind():
                    return conn
            except LDAPCommunicationError as exc:
                log.warning("LDAP server %s unreachable: %s", endpoint.url, exc)
                failure = exc
                _close(conn)
                continue
            except BaseException:
                _close(conn)
                raise
            result = conn.result or {}
            _close(conn)
            log.info(
                "LDAP bind as %r refused by %s: %s %s",
                principal,
                endpoint.url,
                result.get("description"),
                result.get("message") or "",
            )
            return None
        assert failure is not None
        raise failure

    def _find_user(self, conn: Connection, user: str) -> _UserEntry:
        """The one entry named ``user`` (bind-user mode)."""
        settings = self._settings
        found: list[tuple[str, dict[str, Any]]] = []
        if settings.user_dn_patterns:
            for pattern in settings.user_dn_patterns:
                attribute, parent = pattern_parts(pattern)
                found += self._search(
                    conn,
                    parent,
                    user_search_filter(attribute, user),
                    LEVEL,
                    [settings.guid_key],
                    _USER_SEARCH_LIMIT,
                )
        else:
            assert settings.base_dn is not None
            found = self._search(
                conn,
                settings.base_dn,
                user_search_filter(settings.guid_key, user),
                SUBTREE,
                [settings.guid_key],
                _USER_SEARCH_LIMIT,
            )
        if len(found) != 1:
            raise _login_failed("user %r: expected one directory entry, found %d", user, len(found))
        return self._entry(found[0], user)

    def _bound_entry(self, conn: Connection, principal: str, user: str) -> _UserEntry:
        """The entry of the user ``conn`` is bound as (direct mode)."""
        dn = principal if "=" in principal else self._dn_of_bound_user(conn, principal, user)
        found = self._search(conn, dn, "(objectClass=*)", BASE, [self._settings.guid_key], 1)
        if len(found) != 1:
            raise _login_failed("user %r: cannot read own entry %s", user, dn)
        return self._entry(found[0], user)

    def _dn_of_bound_user(self, conn: Connection, principal: str, user: str) -> str:
        """The DN behind a ``user@domain`` bind: from Who am I? (RFC 4532), else (Active
        Directory answers ``u:DOMAIN\\name``) by ``userPrincipalName`` under ``baseDN``."""
        identity = conn.extend.standard.who_am_i() or ""
        if identity.startswith("dn:") and identity[3:]:
            return str(identity[3:])
        if self._settings.base_dn:
            found = self._search(
                conn,
                self._settings.base_dn,
                f"(userPrincipalName={escape_filter_chars(principal)})",
                SUBTREE,
                _NO_ATTRIBUTES,
                _USER_SEARCH_LIMIT,
            )
            if len(found) == 1:
                return found[0][0]
        raise _login_failed("user %r: cannot find the directory entry of %r", user, principal)

    def _entry(self, result: tuple[str, dict[str, Any]], user: str) -> _UserEntry:
        dn, attributes = result
        values = _as_strings(attributes.get(self._settings.guid_key.lower()))
        name = pick_canonical(values, user)
        if name is None:
            raise _login_failed(
                "user %r: entry %s has %s values %r; cannot pick the user name",
                user,
                dn,
                self._settings.guid_key,
                values,
            )
        return _UserEntry(dn, name)

    def _search(
        self,
        conn: Connection,
        base: str,
        query: str,
        scope: str,
        attributes: list[str],
        limit: int,
    ) -> list[tuple[str, dict[str, Any]]]:
        """``(dn, attributes)`` of the entries found; a missing base is an empty result, any
        other error raises (so a failing directory never reads as "not a member")."""
        # Ask the server to give up no later than we would.
        conn.search(
            base,
            query,
            search_scope=scope,
            attributes=attributes,
            size_limit=limit,
            time_limit=self._receive_timeout_s,
        )
        result = conn.result or {}
        # sizeLimitExceeded still returns the entries that fit; callers check the count.
        if result.get("result") not in _SEARCH_OK:
            raise _SearchError(f"search under {base} failed: {result.get('description')}")
        return [
            (str(item["dn"]), _lower_keys(item.get("attributes")))
            for item in conn.response or []
            if item.get("type") == "searchResEntry"
        ]

    # -- filters ------------------------------------------------------------------------------
    def _apply_filters(self, conn: Connection, entry: _UserEntry) -> tuple[str, ...] | None:
        """Raise unless ``entry`` passes the configured filters. Returns the user's groups when
        the group filter had to look them up (``None`` otherwise)."""
        settings = self._settings
        if settings.custom_query is not None:
            self._check_custom_query(conn, entry)
            return None
        if settings.user_filter:
            allowed = {name.casefold() for name in settings.user_filter}
            if entry.name.casefold() not in allowed:
                raise _login_failed("user %r is not in userFilter", entry.name)
        if not settings.group_filter:
            return None
        groups = self._groups_of_dn(conn, entry.dn)
        allowed = {name.casefold() for name in settings.group_filter}
        if not any(group.casefold() in allowed for group in groups):
            raise _login_failed(
                "user %r is in none of groupFilter (groups: %s)", entry.name, groups
            )
        return groups

    def _check_custom_query(self, conn: Connection, entry: _UserEntry) -> None:
        settings = self._settings
        assert settings.custom_query is not None and settings.base_dn is not None
        query = custom_query_filter(
            settings.custom_query,
            settings.guid_key,
            entry.name,
            settings.group_membership_key,
            entry.dn,
        )
        results = self._search(
            conn,
            settings.base_dn,
            query,
            SUBTREE,
            [settings.group_membership_key],
            _GROUP_SEARCH_LIMIT,
        )
        user_dn = normalize_dn(entry.dn)
        for dn, attributes in results:
            members = _as_strings(attributes.get(settings.group_membership_key.lower()))
            # A match on the name alone could be another entry with the same uid elsewhere.
            if normalize_dn(dn) == user_dn or user_dn in {_safe_normalize(m) for m in members}:
                return
        raise _login_failed("user %r (%s) is not in customLDAPQuery's result", entry.name, entry.dn)

    # -- groups -------------------------------------------------------------------------------
    def groups_of(self, user: str) -> list[str]:
        """The names (first RDN values) of the groups listing ``user``, sorted case-insensitively.

        With a bind user the directory is asked each time. Without one the gateway has no
        credentials to search with, so this returns the groups seen at the user's last
        successful login (the gateway asks right after authenticating), or ``[]``.
        """
        if not self._settings.group_bases:
            return []
        if not self._settings.uses_bind_user:
            with self._lock:
                return list(self._login_groups.get(user, ()))
        if user_name_problem(user) or any(ch in DN_METACHARACTERS for ch in user):
            log.warning("No LDAP groups for invalid user name %r", user)
            return []
        try:
            with self._bind_service() as conn:
                return list(self._groups_of_dn(conn, self._find_user(conn, user).dn))
        except Exception as exc:  # GROUP routing falls back to "no group"; never a crash
            log.warning("Cannot look up LDAP groups of %r: %s", user, exc)
            return []

    def primary_group(self, user: str) -> str | None:
        """The first of :meth:`groups_of` (sorted, so the choice is stable across gateways and
        restarts), or ``None`` when the user has no group."""
        groups = self.groups_of(user)
        return groups[0] if groups else None

    def _groups_of_dn(self, conn: Connection, user_dn: str) -> tuple[str, ...]:
        settings = self._settings
        query = group_search_filter(
            settings.group_class_key, settings.group_membership_key, user_dn
        )
        names: set[str] = set()
        for base in settings.group_bases:
            for dn, _ in self._search(
                conn, base, query, SUBTREE, _NO_ATTRIBUTES, _GROUP_SEARCH_LIMIT
            ):
                name = rdn_value(dn)
                problem = user_name_problem(name)
                if problem:
                    log.warning("Ignoring LDAP group %s: its name is %s", dn, problem)
                    continue
                names.add(name)
        return tuple(sorted(names, key=lambda n: (n.casefold(), n)))

    def _remember_groups(
        self, entry: _UserEntry, conn: Connection, groups: tuple[str, ...] | None
    ) -> None:
        if not self._settings.group_bases:
            return
        try:
            found = groups if groups is not None else self._groups_of_dn(conn, entry.dn)
        except Exception as exc:
            # The login itself succeeded; GROUP routing falls back to "no group".
            log.warning("Cannot look up LDAP groups of %r: %s", entry.name, exc)
            return
        with self._lock:
            self._login_groups[entry.name] = found
            self._login_groups.move_to_end(entry.name)
            while len(self._login_groups) > _LOGIN_GROUPS_CACHE_SIZE:
                self._login_groups.popitem(last=False)


# -- ldap3 glue ---------------------------------------------------------------------------------


class _SearchError(LDAPException):  # type: ignore[misc]
    """A search ended with an error result code."""


def _lower_keys(attributes: Any) -> dict[str, Any]:
    # Attribute names are case-insensitive: guidKey=sAMAccountName must find "samaccountname".
    return {str(key).lower(): value for key, value in dict(attributes or {}).items()}


def _as_strings(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def _safe_normalize(dn: str) -> str | None:
    try:
        return normalize_dn(dn)
    except LDAPException:
        return None


def _close(conn: Connection) -> None:
    try:
        conn.unbind()
    except LDAPException as exc:
        log.debug("Ignoring error while closing an LDAP connection: %s", exc)
