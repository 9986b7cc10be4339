"""LDAP pieces that need no server: settings, candidate principals, escaping, pre-checks."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from kyuubi_py.auth import conf as auth_keys, ldap as ldap_module
from kyuubi_py.auth.ldap import (
    LdapAuthenticationProvider,
    LdapSettings,
    candidate_principals,
    check_credentials,
    custom_query_filter,
    group_search_filter,
    normalize_dn,
    parse_urls,
    pattern_parts,
    pick_canonical,
    rdn_value,
    user_search_filter,
)
from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import AuthenticationError, ConfigError

PEOPLE = "ou=people,dc=example,dc=com"
URL = "ldap://127.0.0.1:1"


def settings(**values: Any) -> LdapSettings:
    result = LdapSettings(endpoints=parse_urls(URL), **values)
    result.validate()
    return result


def conf(**values: str) -> KyuubiConf:
    base = {keys.AUTHENTICATION_LDAP_URL.key: URL, keys.AUTHENTICATION_LDAP_BASE_DN.key: PEOPLE}
    base.update({f"kyuubi.authentication.ldap.{k}": v for k, v in values.items()})
    return KyuubiConf(base)


# -- URLs and settings -------------------------------------------------------------------------


def test_parse_urls() -> None:
    endpoints = parse_urls(" ldap://a.example.com  ldaps://b.example.com:1636/ LDAP://[::1]:10389")
    assert [(e.host, e.port, e.use_ssl) for e in endpoints] == [
        ("a.example.com", 389, False),
        ("b.example.com", 1636, True),
        ("::1", 10389, False),
    ]


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "http://x",
        "x.example.com",
        "ldap://",
        "ldap://h:99999",
        "ldap://h/dc=example,dc=com",
        "ldap://user:pw@h",
        "ldap://h?uid",
    ],
)
def test_bad_urls(text: str | None) -> None:
    with pytest.raises(ConfigError):
        parse_urls(text)


def test_settings_from_conf() -> None:
    result = LdapSettings.from_conf(
        conf(
            userDNPattern=f"uid=%s,{PEOPLE}:cn=%s,ou=staff,dc=example,dc=com",
            groupDNPattern="cn=%s,ou=groups,dc=example,dc=com",
            userFilter="alice, bob",
            groupFilter="analysts",
            **{"connect.timeout": "PT1.5S", "receive.timeout": "3000"},
        )
    )
    assert result.user_dn_patterns == (f"uid=%s,{PEOPLE}", "cn=%s,ou=staff,dc=example,dc=com")
    assert result.group_bases == ("ou=groups,dc=example,dc=com",)
    assert result.user_filter == ("alice", "bob")
    assert (result.connect_timeout, result.receive_timeout) == (1.5, 3.0)
    assert not result.uses_bind_user


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"binddn": "cn=gw,dc=example,dc=com"}, "set together"),
        ({"bindpw": "pw"}, "set together"),
        ({"baseDN": ""}, "baseDN, userDNPattern, domain or binddn"),
        ({"baseDN": "", "binddn": "cn=gw", "bindpw": "pw", "domain": "x.com"}, "binddn needs"),
        ({"guidKey": "uid)(x=*"}, "not an attribute name"),
        ({"groupMembershipKey": "member=x"}, "not an attribute name"),
        ({"userDNPattern": "uid=alice,ou=people"}, "attr=%s"),
        ({"userDNPattern": "ou=people,uid=%s"}, "attr=%s"),
        ({"userDNPattern": "uid=%s"}, "attr=%s"),
        ({"userDNPattern": "uid=%s,ou=%s"}, "exactly once"),
        ({"customLDAPQuery": "(&(uid=a)"}, "not a valid LDAP filter"),
        ({"customLDAPQuery": "(uid=a)", "baseDN": "", "domain": "x.com"}, "needs baseDN"),
        ({"groupFilter": "g", "baseDN": "", "domain": "x.com"}, "groupFilter needs"),
        ({"connect.timeout": "0"}, "must be positive"),
    ],
)
def test_settings_that_cannot_work_are_config_errors(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LdapSettings.from_conf(conf(**values))


def test_pattern_parts() -> None:
    assert pattern_parts(f"uid=%s,{PEOPLE}") == ("uid", PEOPLE)
    assert pattern_parts("CN=%s, OU=Groups,DC=corp") == ("CN", "OU=Groups,DC=corp")


def test_ldaps_requires_a_verified_certificate(tmp_path: Any) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    provider = LdapAuthenticationProvider(
        conf(url="ldaps://ldap.example.com", **{"ssl.ca.file": str(ca)})
    )
    server = provider._server(provider.settings.endpoints[0])
    assert server.ssl and server.port == 636
    assert server.tls.validate == ssl.CERT_REQUIRED
    assert server.tls.ca_certs_file == str(ca)
    plain = LdapAuthenticationProvider(conf())
    assert not plain._server(plain.settings.endpoints[0]).ssl
    assert auth_keys.AUTHENTICATION_LDAP_SSL_CA_FILE.server_only


# -- what is checked before any network call --------------------------------------------------


@pytest.mark.parametrize("password", ["", "\x00", "\x00secret", " ", "\t\n ", "sec\x00ret"])
def test_blank_or_nul_passwords_are_rejected(password: str) -> None:
    with pytest.raises(AuthenticationError, match="^Error validating the login$"):
        check_credentials("alice", password)


@pytest.mark.parametrize(
    "user",
    [
        "",
        "*",
        "*)(uid=*",
        "alice)(|(uid=*",
        "\\",
        "alice,ou=x",
        f"uid=bob,{PEOPLE}",
        "a+b",
        "a<b",
        "a>b",
        "#a",
        "a;b",
        'a"b',
        "a=b",
        "(a)",
        "alice\x00",
        " alice",
    ],
)
def test_names_with_dn_or_filter_metacharacters_are_rejected(user: str) -> None:
    with pytest.raises(AuthenticationError):
        check_credentials(user, "pw")


def test_ordinary_credentials_pass_the_prechecks() -> None:
    check_credentials("alice", "pw")
    check_credentials("alice@example.com", " pass word ")
    check_credentials("o'brien", "é")


def test_rejections_happen_before_any_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("an LDAP connection was attempted")

    monkeypatch.setattr(ldap_module, "Connection", no_network)
    for mode in ({}, {"binddn": "cn=gw,dc=example,dc=com", "bindpw": "pw"}):
        provider = LdapAuthenticationProvider(conf(**mode))
        for user, password in [
            ("alice", ""),
            ("alice", "\x00x"),
            ("alice", "  "),
            ("", "pw"),
            ("*", "pw"),
            (f"uid=bob,{PEOPLE}", "pw"),
        ]:
            with pytest.raises(AuthenticationError):
                provider.authenticate(user, password)


def test_an_unreachable_server_fails_closed() -> None:
    provider = LdapAuthenticationProvider(conf(**{"connect.timeout": "PT1S"}))
    with pytest.raises(AuthenticationError, match="^Error validating the login$"):
        provider.authenticate("alice", "pw")


# -- candidate principals and filters ---------------------------------------------------------


def test_candidates_follow_kyuubi_order() -> None:
    everything = settings(
        base_dn=PEOPLE,
        domain="example.com",
        user_dn_patterns=(f"uid=%s,{PEOPLE}", "cn=%s,ou=staff,dc=example,dc=com"),
    )
    assert candidate_principals("alice@corp.com", everything) == ["alice@corp.com"]
    assert candidate_principals("alice", everything) == ["alice@example.com"]
    patterns = settings(base_dn=PEOPLE, user_dn_patterns=everything.user_dn_patterns)
    assert candidate_principals("alice", patterns) == [
        f"uid=alice,{PEOPLE}",
        "cn=alice,ou=staff,dc=example,dc=com",
    ]
    assert candidate_principals("alice", settings(base_dn=PEOPLE)) == [f"uid=alice,{PEOPLE}"]
    custom_guid = settings(base_dn=PEOPLE, guid_key="cn")
    assert candidate_principals("alice", custom_guid) == [f"cn=alice,{PEOPLE}"]


@pytest.mark.parametrize(
    ("user", "rdn"),
    [
        ("alice,ou=x", "alice\\,ou\\=x"),
        (f"uid=bob,{PEOPLE}", "uid\\=bob\\,ou\\=people\\,dc\\=example\\,dc\\=com"),
        ("a+b", "a\\+b"),
        ("\\", "\\\\"),
        ("#a", "\\#a"),
        ('a"b;c<d>', 'a\\"b\\;c\\<d\\>'),
    ],
)
def test_candidate_dns_escape_the_user(user: str, rdn: str) -> None:
    """Defence in depth: the pre-check already refuses these names."""
    assert candidate_principals(user, settings(base_dn=PEOPLE)) == [f"uid={rdn},{PEOPLE}"]
    with_pattern = settings(base_dn=PEOPLE, user_dn_patterns=(f"cn=%s,{PEOPLE}",))
    assert candidate_principals(user, with_pattern) == [f"cn={rdn},{PEOPLE}"]


@pytest.mark.parametrize(
    ("user", "escaped"),
    [
        ("alice", "alice"),
        ("*", "\\2a"),
        ("*)(uid=*", "\\2a\\29\\28uid=\\2a"),
        ("alice)(|(uid=*", "alice\\29\\28|\\28uid=\\2a"),
        ("\\", "\\5c"),
        ("a\x00", "a\\00"),
    ],
)
def test_user_search_filter_escapes(user: str, escaped: str) -> None:
    assert user_search_filter("uid", user) == f"(&(objectClass=*)(uid={escaped}))"


def test_group_search_filter_escapes_the_dn() -> None:
    """HIVE-28540: a DN with an escaped comma or parentheses stays one assertion value."""
    dn = "uid=a\\,b (x),ou=people,dc=example,dc=com"
    assert group_search_filter("groupOfNames", "member", dn) == (
        "(&(objectClass=groupOfNames)(member=uid=a\\5c,b \\28x\\29,ou=people,dc=example,dc=com))"
    )


def test_custom_query_filter() -> None:
    assert custom_query_filter("cn=admins", "uid", "a*", "member", "uid=a,dc=x") == (
        "(&(cn=admins)(|(uid=a\\2a)(member=uid=a,dc=x)))"
    )
    assert custom_query_filter("(|(a=1)(b=2))", "uid", "u", "member", "uid=u") == (
        "(&(|(a=1)(b=2))(|(uid=u)(member=uid=u)))"
    )


# -- DN helpers --------------------------------------------------------------------------------


def test_normalize_dn() -> None:
    assert normalize_dn("UID=Alice, OU=People,dc=Example,DC=com") == normalize_dn(
        "uid=alice,ou=people,dc=example,dc=com"
    )
    assert normalize_dn("cn=caf\\c3\\a9,dc=x") == normalize_dn("cn=CAFÉ,dc=x")
    assert normalize_dn("cn=a\\,b,dc=x") != normalize_dn("cn=a,cn=b,dc=x")


def test_rdn_value() -> None:
    assert rdn_value("cn=analysts,ou=groups,dc=example,dc=com") == "analysts"
    assert rdn_value("cn=data\\, team,ou=groups") == "data, team"
    assert rdn_value("cn=caf\\c3\\a9,ou=groups") == "café"


def test_pick_canonical() -> None:
    assert pick_canonical(["alice"], "ALICE") == "alice"
    assert pick_canonical(["Dave"], "dave") == "Dave"
    assert pick_canonical(["a.smith", "alice"], "Alice") == "alice"
    assert pick_canonical(["alice"], "alice@example.com") == "alice"  # a UPN login
    assert pick_canonical(["x", "y"], "alice") is None
    assert pick_canonical([], "alice") is None
