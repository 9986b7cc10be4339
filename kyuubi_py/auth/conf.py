"""Configuration keys of the authentication layer that Kyuubi does not declare itself.

Kyuubi's own LDAP keys live in :mod:`kyuubi_py.config.keys`. Kyuubi relies on the JVM for LDAP
timeouts and trust stores; a Python gateway has to say them explicitly, so they are declared here.
"""

from __future__ import annotations

from kyuubi_py.config.entry import duration_conf, str_conf

AUTHENTICATION_LDAP_CONNECT_TIMEOUT = duration_conf(
    "kyuubi.authentication.ldap.connect.timeout",
    doc="How long to wait for a TCP (and TLS) connection to one LDAP server before trying the "
    "next URL. When no server answers, the login fails.",
    default=5.0,
    since="0.1.0",
    server_only=True,
)
AUTHENTICATION_LDAP_RECEIVE_TIMEOUT = duration_conf(
    "kyuubi.authentication.ldap.receive.timeout",
    doc="How long to wait for an LDAP server to answer one request (bind or search) before the "
    "login fails. Bounds the time a hung server can hold a login.",
    default=10.0,
    since="0.1.0",
    server_only=True,
)
AUTHENTICATION_LDAP_SSL_CA_FILE = str_conf(
    "kyuubi.authentication.ldap.ssl.ca.file",
    doc="PEM file of the CA certificates trusted for ldaps:// servers. Unset: the system trust "
    "store. The server certificate and host name are always verified.",
    default=None,
    since="0.1.0",
    server_only=True,
)
