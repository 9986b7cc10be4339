"""``AuthPolicy`` from ``kyuubi.authentication`` and the authenticator built from a conf."""

from __future__ import annotations

import pytest

from kyuubi_py.auth.ldap import LdapAuthenticationProvider
from kyuubi_py.auth.provider import AnonymousProvider, GroupProvider
from kyuubi_py.auth.types import AuthPolicy, AuthType, build_authenticator, build_provider
from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import AuthenticationError, ConfigError


def policy(methods: str | None) -> AuthPolicy:
    conf = KyuubiConf()
    if methods is not None:
        conf.set(keys.AUTHENTICATION_METHOD.key, methods)
    return AuthPolicy.from_conf(conf)


@pytest.mark.parametrize(
    ("methods", "plain", "nosasl"),
    [
        (None, AuthType.NONE, True),  # the default
        ("NONE", AuthType.NONE, True),
        ("none", AuthType.NONE, True),
        ("NOSASL", None, True),
        ("NONE,NOSASL", AuthType.NONE, True),
        ("NOSASL, NONE", AuthType.NONE, True),
        ("LDAP", AuthType.LDAP, False),
        (" ldap ", AuthType.LDAP, False),
        ("LDAP,LDAP", AuthType.LDAP, False),
        ("CUSTOM", AuthType.CUSTOM, False),
    ],
)
def test_policy(methods: str | None, plain: AuthType | None, nosasl: bool) -> None:
    result = policy(methods)
    assert result.plain is plain
    assert result.allow_sasl is (plain is not None)
    assert result.allow_nosasl is nosasl


@pytest.mark.parametrize("methods", ["LDAP,NOSASL", "NOSASL,LDAP", "CUSTOM,NOSASL"])
def test_nosasl_with_a_password_method_is_refused(methods: str) -> None:
    with pytest.raises(ConfigError, match="no verified identity.*bypass"):
        policy(methods)


@pytest.mark.parametrize(
    ("methods", "message"),
    [
        ("LDAP,NONE", "more than one password method"),
        ("NONE,CUSTOM", "more than one password method"),
        ("KERBEROS", "KERBEROS is not supported"),
        ("JDBC", "JDBC is not supported"),
        ("PLAIN", "unknown method 'PLAIN'"),
        ("", "at least one method"),
        (",", "at least one method"),
    ],
)
def test_bad_method_lists(methods: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        policy(methods)


def test_nosasl_only_has_no_authenticator() -> None:
    conf = KyuubiConf({keys.AUTHENTICATION_METHOD.key: "NOSASL"})
    assert build_provider(conf) is None
    assert build_authenticator(conf) is None


def test_none_authenticator() -> None:
    conf = KyuubiConf()
    assert isinstance(build_provider(conf), AnonymousProvider)
    authenticate = build_authenticator(conf)
    assert authenticate is not None
    assert authenticate("bob", "") == "bob"
    with pytest.raises(AuthenticationError, match="^Error validating the login$"):
        authenticate("../bob", "x")


def test_custom_without_a_class_is_a_config_error() -> None:
    conf = KyuubiConf({keys.AUTHENTICATION_METHOD.key: "CUSTOM"})
    with pytest.raises(ConfigError, match="custom.class"):
        build_authenticator(conf)


def test_ldap_without_a_url_is_a_config_error() -> None:
    conf = KyuubiConf({keys.AUTHENTICATION_METHOD.key: "LDAP"})
    with pytest.raises(ConfigError, match="ldap.url"):
        build_authenticator(conf)


def test_ldap_provider_is_a_group_provider() -> None:
    conf = KyuubiConf(
        {
            keys.AUTHENTICATION_METHOD.key: "LDAP",
            keys.AUTHENTICATION_LDAP_URL.key: "ldap://127.0.0.1:1",
            keys.AUTHENTICATION_LDAP_BASE_DN.key: "ou=people,dc=example,dc=com",
        }
    )
    provider = build_provider(conf)
    assert isinstance(provider, LdapAuthenticationProvider)
    assert isinstance(provider, GroupProvider)
    assert not isinstance(AnonymousProvider(), GroupProvider)
