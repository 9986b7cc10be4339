"""The gateway with kyuubi.authentication=LDAP against a real slapd (fake engines).

Login errors reach the client as the SASL failure of the connection (pyhive raises a
TTransportException carrying the server's "Error validating the login"); GROUP share level routes
by the user's (first) LDAP group.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.gateway_support import GatewayUnderTest, StartGateway, scalar
from support.ldap_server import SlapdServer
from thrift.transport.TTransport import TTransportException

pytestmark = pytest.mark.timeout(120)

INJECTIONS = [
    "*",
    "*)(uid=*",
    "alice)(|(uid=*",
    "\\",
    "alice,ou=people",
    "uid=bob,ou=people,dc=example,dc=com",
]


def ldap_settings(slapd: SlapdServer, **extra: str) -> dict[str, str]:
    settings = {
        "kyuubi.authentication": "LDAP",
        "kyuubi.authentication.ldap.url": slapd.url,
        "kyuubi.authentication.ldap.baseDN": slapd.base_dn,
        "kyuubi.authentication.ldap.binddn": slapd.bind_dn,
        "kyuubi.authentication.ldap.bindpw": slapd.bind_password,
        "kyuubi.authentication.ldap.connect.timeout": "PT2S",
        "kyuubi.authentication.ldap.receive.timeout": "PT2S",
    }
    settings.update(extra)
    return settings


@pytest.fixture
def ldap_gateway(slapd: SlapdServer, start_gateway: StartGateway) -> GatewayUnderTest:
    return start_gateway("gw_ldap", **ldap_settings(slapd))


def connect(gateway: GatewayUnderTest, user: str, password: str) -> Any:
    return gateway.connect(user, auth="LDAP", password=password)


def refused(gateway: GatewayUnderTest, user: str, password: str) -> str:
    with pytest.raises(TTransportException) as info:
        connect(gateway, user, password).close()
    return str(info.value)


def test_right_password_gets_a_session(ldap_gateway: GatewayUnderTest, slapd: SlapdServer) -> None:
    connection = connect(ldap_gateway, "alice", slapd.users["alice"])
    try:
        assert scalar(connection, "whoami") == "alice"
    finally:
        connection.close()


def test_directory_spelling_is_the_session_user(
    ldap_gateway: GatewayUnderTest, slapd: SlapdServer
) -> None:
    connection = connect(ldap_gateway, "dave", slapd.users["Dave"])
    try:
        assert scalar(connection, "whoami") == "Dave"
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("user", "password"),
    [("alice", "wrong"), ("alice", "bob-Secret-2"), ("nobody", "x"), ("alice", " ")],
)
def test_bad_credentials_are_refused(
    ldap_gateway: GatewayUnderTest, user: str, password: str
) -> None:
    assert "Error validating the login" in refused(ldap_gateway, user, password)


def test_empty_password_is_refused(ldap_gateway: GatewayUnderTest, slapd: SlapdServer) -> None:
    # pyhive sends "x" for a missing password, so send the empty one by hand
    from kyuubi_py.errors import AuthenticationError
    from kyuubi_py.transport.client import ThriftClientConnection

    with pytest.raises(AuthenticationError, match="Error validating the login"):
        ThriftClientConnection(ldap_gateway.host, ldap_gateway.port, user="alice", password="")


@pytest.mark.parametrize("user", INJECTIONS)
def test_injection_strings_are_refused(ldap_gateway: GatewayUnderTest, user: str) -> None:
    for password in ("x", "alice-Secret-1", "bob-Secret-2"):
        assert "Error validating the login" in refused(ldap_gateway, user, password)


def test_group_level_routes_by_ldap_group(slapd: SlapdServer, start_gateway: StartGateway) -> None:
    gateway = start_gateway(
        "gw_ldap_group", **ldap_settings(slapd, **{"kyuubi.engine.share.level": "GROUP"})
    )
    alice = connect(gateway, "alice", slapd.users["alice"])
    bob = connect(gateway, "bob", slapd.users["bob"])
    carol = connect(gateway, "carol", slapd.users["carol"])
    try:
        assert scalar(alice, "engine") == scalar(bob, "engine") != scalar(carol, "engine")
        assert (scalar(alice, "whoami"), scalar(bob, "whoami")) == ("alice", "bob")
    finally:
        for connection in (alice, bob, carol):
            connection.close()
    users = sorted(
        a.split("=", 1)[1]
        for run in gateway.submit.runs()
        for a in run["argv"]  # type: ignore[attr-defined]
        if a.startswith("kyuubi.engine.user=")
    )
    assert users == ["analysts", "engineers"]
