"""Znode paths and node names, in Kyuubi's exact layout so Hive JDBC discovery works unchanged.

- gateways: ``/<ns>/serverUri=<host>:<port>;version=<ver>;sequence=<seq>``
- engines: ``/<ns>_<ver>_<SHARE>_<TYPE>/<user>/<subdomain>/serverUri=...;refId=<id>;sequence=<n>``
- launch lock: ``/<ns>_<ver>_<SHARE>_<TYPE>_lock/<user>/<subdomain>``
- POLLING pool counter: ``/<ns>_<ver>_<SHARE>_<TYPE>_seqNum/<user>/<pool name>``

ZooKeeper appends the 10-digit sequence to the ``...;sequence=`` prefixes built here. Every value
that becomes a path segment or a name part is validated, because usernames come from clients.
Pure functions; no ZooKeeper access.
"""

from __future__ import annotations

from collections.abc import Mapping

from kyuubi_py.errors import DiscoveryError
from kyuubi_py.ha.client import ServiceNodeInfo

SHARE_LEVELS = ("CONNECTION", "USER", "GROUP", "SERVER", "SERVER_LOCAL")
SPARK_SQL = "SPARK_SQL"
#: ZooKeeper limits a whole path only by jute.maxbuffer; one segment is kept to the common file
#: name limit so a client cannot make us create absurd nodes.
MAX_SEGMENT_BYTES = 255
_NAME_SEPARATORS = (";", "=")


def _is_forbidden_char(char: str) -> bool:
    code = ord(char)
    # The ranges ZooKeeper's PathUtils.validatePath rejects (controls, surrogates, private use,
    # specials), plus the Unicode line and paragraph separators.
    return (
        code <= 0x1F
        or 0x7F <= code <= 0x9F
        or 0xD800 <= code <= 0xF8FF
        or 0xFFF0 <= code <= 0xFFFF
        or code in (0x2028, 0x2029)
    )


def validate_path_segment(text: str) -> str:
    """``text`` when it is safe as one znode path segment; else :class:`DiscoveryError`."""
    if not text:
        raise DiscoveryError("Empty name is not allowed as a ZooKeeper path segment")
    if text in (".", ".."):
        raise DiscoveryError(f"{text!r} is not allowed as a ZooKeeper path segment")
    if "/" in text:
        raise DiscoveryError(f"{text!r} contains '/', not allowed in a ZooKeeper path segment")
    if any(_is_forbidden_char(c) for c in text):
        raise DiscoveryError(f"{text!r} contains a control or reserved character")
    if text != text.strip():
        # "alice " must not be a different engine owner than "alice".
        raise DiscoveryError(f"{text!r} has leading or trailing white space")
    if len(text.encode("utf-8")) > MAX_SEGMENT_BYTES:
        raise DiscoveryError(f"Name longer than {MAX_SEGMENT_BYTES} bytes: {text[:40]!r}...")
    return text


def _name_part(text: str, what: str) -> str:
    """A value embedded in a node name: a safe segment without the name's own separators."""
    validate_path_segment(text)
    if any(sep in text for sep in _NAME_SEPARATORS):
        raise DiscoveryError(f"{what} {text!r} must not contain ';' or '='")
    return text


def _attribute_value(text: str, key: str) -> str:
    # Values may contain '=' (base64 padding): the parser splits each part at its first '='.
    if text:
        validate_path_segment(text)
    if ";" in text:
        raise DiscoveryError(f"Value of attribute {key!r} must not contain ';'")
    return text


def _namespace(namespace: str) -> str:
    """``/a/b`` style root of a namespace, accepting ``a/b``, ``/a/b`` and ``/a/b/``."""
    segments = namespace.strip("/").split("/")
    return "/" + "/".join(validate_path_segment(s) for s in segments)


def _share_level(share_level: str) -> str:
    level = share_level.upper()
    if level not in SHARE_LEVELS:
        raise DiscoveryError(f"Unknown share level {share_level!r}")
    return level


def _server_uri(host: str, port: int, version: str) -> str:
    if not 0 < port <= 65535:
        raise DiscoveryError(f"Invalid port {port}")
    return f"serverUri={_name_part(host, 'Host')}:{port};version={_name_part(version, 'Version')};"


def server_node_prefix(namespace: str, host: str, port: int, version: str) -> str:
    """``/<ns>/serverUri=<host>:<port>;version=<ver>;sequence=`` for a gateway."""
    return f"{_namespace(namespace)}/{_server_uri(host, port, version)}sequence="


def _engine_root(
    namespace: str, version: str, share_level: str, engine_type: str, suffix: str = ""
) -> str:
    root = f"{_namespace(namespace)}_{_name_part(version, 'Version')}"
    return f"{root}_{_share_level(share_level)}_{_name_part(engine_type, 'Engine type')}{suffix}"


def engine_space(
    namespace: str,
    version: str,
    share_level: str,
    user: str,
    subdomain: str,
    engine_type: str = SPARK_SQL,
) -> str:
    """``/<ns>_<ver>_<SHARE>_<TYPE>/<user>/<subdomain>``: where one engine (or pool) registers.
    For CONNECTION level the subdomain is the engine ref id."""
    root = _engine_root(namespace, version, share_level, engine_type)
    return f"{root}/{validate_path_segment(user)}/{validate_path_segment(subdomain)}"


#: Engine node attribute: the abstract Unix socket the engine serves besides its TCP port, for
#: a gateway on the same host (faster than TCP loopback; see transport.server.LOCAL_SOCKETS).
ENGINE_LOCAL_SOCKET_ATTRIBUTE = "kyuubi_py.engine.local.socket"


def engine_node_prefix(
    space: str,
    host: str,
    port: int,
    version: str,
    ref_id: str,
    attributes: Mapping[str, str] | None = None,
) -> str:
    """``<space>/serverUri=<h>:<p>;version=<v>;[k=v;...]refId=<id>;sequence=`` for an engine."""
    parts = [_server_uri(host, port, version)]
    for key, value in (attributes or {}).items():
        parts.append(f"{_name_part(key, 'Attribute name')}={_attribute_value(value, key)};")
    parts.append(f"refId={_name_part(ref_id, 'Engine ref id')};sequence=")
    return f"{space.rstrip('/')}/{''.join(parts)}"


def lock_path(
    namespace: str,
    version: str,
    share_level: str,
    user: str,
    subdomain: str,
    engine_type: str = SPARK_SQL,
) -> str:
    """``/<ns>_<ver>_<SHARE>_<TYPE>_lock/<user>/<subdomain>``: the engine launch lock."""
    root = _engine_root(namespace, version, share_level, engine_type, "_lock")
    return f"{root}/{validate_path_segment(user)}/{validate_path_segment(subdomain)}"


def sessions_space(
    namespace: str,
    version: str,
    share_level: str,
    user: str,
    subdomain: str,
    engine_type: str = SPARK_SQL,
) -> str:
    """``/<ns>_<ver>_<SHARE>_<TYPE>_sessions/<user>/<subdomain>``: one ephemeral node per open
    gateway session of that engine space (the LEAST_SESSIONS pool policy counts them)."""
    root = _engine_root(namespace, version, share_level, engine_type, "_sessions")
    return f"{root}/{validate_path_segment(user)}/{validate_path_segment(subdomain)}"


def counter_path(
    namespace: str,
    version: str,
    share_level: str,
    user: str,
    pool_name: str,
    engine_type: str = SPARK_SQL,
) -> str:
    """``/<ns>_<ver>_<SHARE>_<TYPE>_seqNum/<user>/<pool>``: the POLLING pool selection counter."""
    root = _engine_root(namespace, version, share_level, engine_type, "_seqNum")
    return f"{root}/{validate_path_segment(user)}/{validate_path_segment(pool_name)}"


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _parse_host_port(uri: str, name: str) -> tuple[str, int]:
    host, sep, port_text = uri.rpartition(":")
    if not sep or not host or not _is_number(port_text):
        raise DiscoveryError(f"Bad serverUri {uri!r} in node name {name!r}")
    port = int(port_text)
    if not 0 < port <= 65535:
        raise DiscoveryError(f"Bad port in node name {name!r}")
    return host.removeprefix("[").removesuffix("]"), port


def parse_node_name(name: str, parent: str = "", data: bytes = b"") -> ServiceNodeInfo:
    """Parse a gateway or engine node name; :class:`DiscoveryError` when it is not one."""
    fields: dict[str, str] = {}
    for part in name.split(";"):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise DiscoveryError(f"Not a service node name: {name!r}")
        fields[key] = value
    uri = fields.pop("serverUri", None)
    if uri is None:
        raise DiscoveryError(f"No serverUri in node name {name!r}")
    host, port = _parse_host_port(uri, name)
    sequence_text = fields.pop("sequence", None)
    if sequence_text is not None and not _is_number(sequence_text):
        raise DiscoveryError(f"Bad sequence in node name {name!r}")
    return ServiceNodeInfo(
        name=name,
        path=f"{parent.rstrip('/')}/{name}" if parent else name,
        host=host,
        port=port,
        version=fields.pop("version", None),
        ref_id=fields.pop("refId", None),
        sequence=None if sequence_text is None else int(sequence_text),
        attributes=fields,
        data=data,
    )
