"""LDAP authentication against a real slapd (reference/reliability.md §4.2, L1-L6).

Three ways of finding the user are covered: direct bind with ``baseDN`` (``uid=<user>,<baseDN>``),
direct bind with ``userDNPattern``, and search-then-bind with a bind user. Every test is bounded in
time; the ones that stop or pause a server bound the login itself too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support.ldap_server import SlapdServer, free_port

from kyuubi_py.auth import conf as auth_keys, ldap as ldap_module
from kyuubi_py.auth.ldap import LdapAuthenticationProvider
from kyuubi_py.auth.types import build_authenticator
from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import AuthenticationError

pytestmark = pytest.mark.timeout(60)

INJECTIONS = [
    "*",
    "*)(uid=*",
    "alice)(|(uid=*",
    "\\",
    "\\00",
    "alice,ou=x",
    "uid=bob,ou=people,dc=example,dc=com",
    "alice\x00",
    "alice*",
    "(alice)",
    "#alice",
    "alice+cn=x",
]
MODES = ["base_dn", "user_dn_pattern", "bind_user"]


def make_conf(slapd: SlapdServer, mode: str, **extra: str) -> KyuubiConf:
    values = {
        keys.AUTHENTICATION_METHOD.key: "LDAP",
        keys.AUTHENTICATION_LDAP_URL.key: slapd.url,
        auth_keys.AUTHENTICATION_LDAP_CONNECT_TIMEOUT.key: "PT2S",
        auth_keys.AUTHENTICATION_LDAP_RECEIVE_TIMEOUT.key: "PT2S",
    }
    if mode == "base_dn":
        values[keys.AUTHENTICATION_LDAP_BASE_DN.key] = slapd.people_dn
        values[keys.AUTHENTICATION_LDAP_GROUP_DN_PATTERN.key] = f"cn=%s,{slapd.groups_dn}"
    elif mode == "user_dn_pattern":
        values[keys.AUTHENTICATION_LDAP_BASE_DN.key] = slapd.base_dn
        values[keys.AUTHENTICATION_LDAP_USER_DN_PATTERN.key] = f"uid=%s,{slapd.people_dn}"
    else:
        values[keys.AUTHENTICATION_LDAP_BASE_DN.key] = slapd.base_dn
        values[keys.AUTHENTICATION_LDAP_BIND_USER.key] = slapd.bind_dn
        values[keys.AUTHENTICATION_LDAP_BIND_PASSWORD.key] = slapd.bind_password
    values.update({f"kyuubi.authentication.ldap.{k}": v for k, v in extra.items()})
    return KyuubiConf(values)


def provider(slapd: SlapdServer, mode: str, **extra: str) -> LdapAuthenticationProvider:
    return LdapAuthenticationProvider(make_conf(slapd, mode, **extra))


def rejected(ldap: LdapAuthenticationProvider, user: str, password: str) -> bool:
    try:
        ldap.authenticate(user, password)
    except AuthenticationError as exc:
        assert str(exc) == "Error validating the login"  # generic: the reason is only logged
        return True
    return False


# -- credentials ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_right_password_gives_the_canonical_uid(slapd: SlapdServer, mode: str) -> None:
    ldap = provider(slapd, mode)
    assert ldap.authenticate("alice", slapd.users["alice"]) == "alice"
    assert ldap.authenticate("bob", slapd.users["bob"]) == "bob"


@pytest.mark.parametrize("mode", MODES)
def test_case_variants_map_to_the_directory_spelling(slapd: SlapdServer, mode: str) -> None:
    """L4: one person, one identity, spelled as the directory spells it."""
    ldap = provider(slapd, mode)
    assert ldap.authenticate("ALICE", slapd.users["alice"]) == "alice"
    assert ldap.authenticate("Alice", slapd.users["alice"]) == "alice"
    assert ldap.authenticate("dave", slapd.users["Dave"]) == "Dave"


@pytest.mark.parametrize("mode", MODES)
def test_wrong_password_is_rejected(slapd: SlapdServer, mode: str) -> None:
    ldap = provider(slapd, mode)
    assert rejected(ldap, "alice", "wrong")
    assert rejected(ldap, "alice", slapd.users["bob"])
    assert rejected(ldap, "alice", slapd.users["alice"] + " ")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("password", ["", "\x00", "\x00" + "alice-Secret-1", " ", "\t \n"])
def test_blank_or_nul_password_is_rejected(slapd: SlapdServer, mode: str, password: str) -> None:
    assert rejected(provider(slapd, mode), "alice", password)


@pytest.mark.parametrize("mode", MODES)
def test_unknown_and_empty_users_are_rejected(slapd: SlapdServer, mode: str) -> None:
    ldap = provider(slapd, mode)
    assert rejected(ldap, "mallory", "whatever")
    assert rejected(ldap, "", slapd.users["alice"])
    assert rejected(ldap, "gateway", slapd.bind_password)  # a service entry is not a user


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("user", INJECTIONS)
def test_injection_strings_never_authenticate(slapd: SlapdServer, mode: str, user: str) -> None:
    """L1: with any user's password, a crafted name is rejected."""
    ldap = provider(slapd, mode)
    for password in slapd.users.values():
        assert rejected(ldap, user, password)


@pytest.mark.parametrize("mode", MODES)
def test_escaping_alone_holds_without_the_metacharacter_rule(
    slapd: SlapdServer, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: switch the name pre-check off; the escaped DNs and filters that reach
    slapd must still match nobody else."""
    monkeypatch.setattr(ldap_module, "DN_METACHARACTERS", frozenset())
    ldap = provider(slapd, mode)
    for user in INJECTIONS + ["ali*", "a*e", "*alice*", "alice)", "(uid=alice)"]:
        for password in slapd.users.values():
            assert rejected(ldap, user, password), (user, password)
    assert ldap.authenticate("alice", slapd.users["alice"]) == "alice"


def test_full_dn_as_user_name_is_rejected_even_with_the_right_password(
    slapd: SlapdServer,
) -> None:
    for mode in MODES:
        assert rejected(provider(slapd, mode), slapd.user_dn("bob"), slapd.users["bob"])


def test_empty_password_refused_by_us_even_when_slapd_allows_unauthenticated_binds(
    slapd: SlapdServer,
) -> None:
    """L2 / CVE-2015-1772: with bind_anon_dn the server says yes to a DN with no password; the
    gateway must still say no."""
    slapd.set_bind_anon_dn(True)
    try:
        assert slapd.whoami(slapd.user_dn("alice"), "") == "anonymous"
        for mode in MODES:
            ldap = provider(slapd, mode)
            for password in ("", "\x00", "\x00x"):
                assert rejected(ldap, "alice", password)
            assert ldap.authenticate("alice", slapd.users["alice"]) == "alice"
    finally:
        slapd.set_bind_anon_dn(False)
    assert slapd.whoami(slapd.user_dn("alice"), "").startswith("error:")


def test_bind_user_with_a_wrong_password_fails_closed(slapd: SlapdServer) -> None:
    conf = make_conf(slapd, "bind_user", bindpw="not-the-password")
    assert rejected(LdapAuthenticationProvider(conf), "alice", slapd.users["alice"])


def test_passwords_never_reach_the_log(
    slapd: SlapdServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "Zq9-unique-wrong-password"
    for mode in MODES:
        ldap = provider(slapd, mode)
        assert rejected(ldap, "alice", secret)
        ldap.authenticate("alice", slapd.users["alice"])
    assert secret not in caplog.text
    assert slapd.users["alice"] not in caplog.text
    assert slapd.bind_password not in caplog.text
    assert "alice" in caplog.text  # the reasons are logged


@pytest.mark.parametrize("mode", MODES)
def test_attribute_names_are_case_insensitive(slapd: SlapdServer, mode: str) -> None:
    ldap = provider(slapd, mode, guidKey="UID", groupMembershipKey="Member", groupFilter="analysts")
    assert ldap.authenticate("Alice", slapd.users["alice"]) == "alice"
    assert rejected(ldap, "carol", slapd.users["carol"])


# -- filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_user_filter_allows_only_listed_names(slapd: SlapdServer, mode: str) -> None:
    ldap = provider(slapd, mode, userFilter="ALICE, dave")
    assert ldap.authenticate("alice", slapd.users["alice"]) == "alice"
    assert ldap.authenticate("DAVE", slapd.users["Dave"]) == "Dave"
    assert rejected(ldap, "bob", slapd.users["bob"])


@pytest.mark.parametrize("mode", MODES)
def test_group_filter_allows_only_members(slapd: SlapdServer, mode: str) -> None:
    ldap = provider(slapd, mode, groupFilter="Analysts")
    assert ldap.authenticate("alice", slapd.users["alice"]) == "alice"
    assert ldap.authenticate("bob", slapd.users["bob"]) == "bob"
    assert rejected(ldap, "carol", slapd.users["carol"])
    assert rejected(ldap, "Dave", slapd.users["Dave"])
    both = provider(slapd, mode, groupFilter="analysts,engineers")
    assert both.authenticate("carol", slapd.users["carol"]) == "carol"


@pytest.mark.parametrize("mode", ["user_dn_pattern", "bind_user"])
def test_custom_query_selecting_users(slapd: SlapdServer, mode: str) -> None:
    ldap = provider(slapd, mode, customLDAPQuery="(|(uid=alice)(uid=dave))")
    assert ldap.authenticate("alice", slapd.users["alice"]) == "alice"
    assert ldap.authenticate("dave", slapd.users["Dave"]) == "Dave"
    assert rejected(ldap, "bob", slapd.users["bob"])


@pytest.mark.parametrize("mode", ["user_dn_pattern", "bind_user"])
def test_custom_query_selecting_a_group_admits_its_members(slapd: SlapdServer, mode: str) -> None:
    ldap = provider(slapd, mode, customLDAPQuery="(&(objectClass=groupOfNames)(cn=engineers))")
    assert ldap.authenticate("carol", slapd.users["carol"]) == "carol"
    assert rejected(ldap, "alice", slapd.users["alice"])


def test_custom_query_replaces_the_other_filters(slapd: SlapdServer) -> None:
    ldap = provider(slapd, "bind_user", customLDAPQuery="(uid=bob)", userFilter="alice")
    assert ldap.authenticate("bob", slapd.users["bob"]) == "bob"
    assert rejected(ldap, "alice", slapd.users["alice"])


# -- groups ----------------------------------------------------------------------------------


def test_groups_of_with_a_bind_user(slapd: SlapdServer) -> None:
    ldap = provider(slapd, "bind_user")
    assert ldap.groups_of("alice") == ["analysts"]
    assert ldap.groups_of("ALICE") == ["analysts"]
    assert ldap.groups_of("carol") == ["engineers"]
    assert ldap.groups_of("Dave") == []
    assert ldap.groups_of("mallory") == []
    assert ldap.groups_of("*") == []
    assert ldap.primary_group("bob") == "analysts"
    assert ldap.primary_group("Dave") is None


@pytest.mark.parametrize("mode", ["base_dn", "user_dn_pattern"])
def test_groups_of_without_a_bind_user_come_from_the_last_login(
    slapd: SlapdServer, mode: str
) -> None:
    ldap = provider(slapd, mode)
    assert ldap.groups_of("carol") == []  # no credentials to look with before a login
    assert ldap.authenticate("CAROL", slapd.users["carol"]) == "carol"
    assert ldap.groups_of("carol") == ["engineers"]
    assert ldap.primary_group("carol") == "engineers"


# -- the whole SASL PLAIN check -----------------------------------------------------------------


def test_build_authenticator_for_ldap(slapd: SlapdServer) -> None:
    authenticate = build_authenticator(make_conf(slapd, "bind_user"))
    assert authenticate is not None
    assert authenticate("Alice", slapd.users["alice"]) == "alice"
    with pytest.raises(AuthenticationError, match="^Error validating the login$"):
        authenticate("alice", "")
    with pytest.raises(AuthenticationError, match="^Error validating the login$"):
        authenticate("*", slapd.users["alice"])


@pytest.mark.timeout(120)
def test_many_wrong_passwords_all_fail_and_stay_fast(slapd: SlapdServer) -> None:
    """L6: 500 wrong-password attempts fail; a right one afterwards is still quick."""
    ldap = provider(slapd, "bind_user")
    started = time.monotonic()
    assert all(rejected(ldap, "alice", f"wrong-{i}") for i in range(500))
    assert time.monotonic() - started < 60
    started = time.monotonic()
    assert ldap.authenticate("alice", slapd.users["alice"]) == "alice"
    assert time.monotonic() - started < 2


# -- failures of the directory itself (L5) ------------------------------------------------------


@pytest.fixture
def own_slapd(tmp_path: Path) -> Iterator[SlapdServer]:
    """A slapd of the test's own, for tests that kill it."""
    with SlapdServer(tmp_path / "slapd") as server:
        yield server


@pytest.mark.timeout(30)
def test_stopped_server_fails_closed_fast(own_slapd: SlapdServer) -> None:
    ldap = provider(own_slapd, "bind_user")
    assert ldap.authenticate("alice", own_slapd.users["alice"]) == "alice"
    own_slapd.stop()
    started = time.monotonic()
    assert rejected(ldap, "alice", own_slapd.users["alice"])
    assert time.monotonic() - started < 5


@pytest.mark.timeout(30)
def test_paused_server_fails_closed_within_the_receive_timeout(slapd: SlapdServer) -> None:
    ldap = provider(slapd, "base_dn", **{"receive.timeout": "PT1S"})
    slapd.pause()
    try:
        started = time.monotonic()
        assert rejected(ldap, "alice", slapd.users["alice"])
        assert time.monotonic() - started < 5
    finally:
        slapd.resume()
    assert ldap.authenticate("alice", slapd.users["alice"]) == "alice"


@pytest.mark.timeout(30)
def test_next_url_is_tried_when_the_first_is_down(slapd: SlapdServer) -> None:
    conf = make_conf(slapd, "bind_user", url=f"ldap://127.0.0.1:{free_port()} {slapd.url}")
    ldap = LdapAuthenticationProvider(conf)
    assert ldap.authenticate("alice", slapd.users["alice"]) == "alice"
    assert rejected(ldap, "alice", "wrong")


# -- ldaps ---------------------------------------------------------------------------------------


@pytest.fixture
def tls_slapd(tmp_path: Path) -> Iterator[SlapdServer]:
    with SlapdServer(tmp_path / "slapd", tls=True) as server:
        yield server


@pytest.mark.timeout(30)
def test_ldaps_with_a_trusted_ca(tls_slapd: SlapdServer) -> None:
    conf = make_conf(tls_slapd, "bind_user", url=tls_slapd.ldaps_url)
    conf.set(auth_keys.AUTHENTICATION_LDAP_SSL_CA_FILE.key, str(tls_slapd.ca_file))
    ldap = LdapAuthenticationProvider(conf)
    assert ldap.authenticate("alice", tls_slapd.users["alice"]) == "alice"
    assert rejected(ldap, "alice", "wrong")


@pytest.mark.timeout(30)
def test_ldaps_with_an_untrusted_certificate_fails_closed(tls_slapd: SlapdServer) -> None:
    ldap = provider(tls_slapd, "bind_user", url=tls_slapd.ldaps_url)
    assert rejected(ldap, "alice", tls_slapd.users["alice"])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["base_dn", "bind_user"])
def test_concurrent_logins_keep_identities_apart(slapd: SlapdServer, mode: str) -> None:
    """One provider serves every login thread: no result may leak into another login."""
    ldap = provider(slapd, mode)
    attempts = list(slapd.users.items()) * 10 + [("alice", "wrong")] * 10

    def attempt(item: tuple[str, str]) -> tuple[str, str | None]:
        user, password = item
        try:
            return user, ldap.authenticate(user.upper(), password)
        except AuthenticationError:
            return user, None

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, attempts))
    for (user, password), (_, name) in zip(attempts, results, strict=True):
        assert name == (None if password == "wrong" else user)
