"""Znode paths and node names: Kyuubi's exact layout, and validation of client-given names."""

from __future__ import annotations

import pytest

from kyuubi_py.errors import DiscoveryError
from kyuubi_py.ha.paths import (
    counter_path,
    engine_node_prefix,
    engine_space,
    lock_path,
    parse_node_name,
    server_node_prefix,
    validate_path_segment,
)


def test_server_node_prefix() -> None:
    assert (
        server_node_prefix("kyuubi", "10.0.0.5", 10009, "0.1.0")
        == "/kyuubi/serverUri=10.0.0.5:10009;version=0.1.0;sequence="
    )


@pytest.mark.parametrize("namespace", ["/kyuubi", "kyuubi/", "/kyuubi/"])
def test_namespace_slashes_are_normalized(namespace: str) -> None:
    assert server_node_prefix(namespace, "h", 1, "1").startswith("/kyuubi/serverUri=")


def test_nested_namespace() -> None:
    assert engine_space("a/b", "1.0", "USER", "bob", "default") == (
        "/a/b_1.0_USER_SPARK_SQL/bob/default"
    )


def test_engine_space_lock_and_counter() -> None:
    assert engine_space("kyuubi", "0.1.0", "user", "alice", "default") == (
        "/kyuubi_0.1.0_USER_SPARK_SQL/alice/default"
    )
    assert lock_path("kyuubi", "0.1.0", "USER", "alice", "default") == (
        "/kyuubi_0.1.0_USER_SPARK_SQL_lock/alice/default"
    )
    assert counter_path("kyuubi", "0.1.0", "GROUP", "eng", "engine-pool") == (
        "/kyuubi_0.1.0_GROUP_SPARK_SQL_seqNum/eng/engine-pool"
    )
    assert engine_space("ns", "1", "SERVER_LOCAL", "svc", "10.0.0.1_default") == (
        "/ns_1_SERVER_LOCAL_SPARK_SQL/svc/10.0.0.1_default"
    )


def test_unknown_share_level_is_rejected() -> None:
    with pytest.raises(DiscoveryError, match="share level"):
        engine_space("kyuubi", "0.1.0", "EVERYONE", "alice", "default")


def test_engine_node_prefix_matches_kyuubi_example() -> None:
    # The node name reported in KYUUBI #6790, minus its sequence.
    space = "/kyuubi_1.9.2_USER_SPARK_SQL/u/default"
    prefix = engine_node_prefix(
        space,
        "h",
        46373,
        "1.9.2",
        "6a07",
        {
            "spark.driver.memory": "3g",
            "spark.executor.memory": "3g",
            "kyuubi.engine.id": "application_1_0023",
            "kyuubi.engine.url": "h:44237",
        },
    )
    assert prefix == (
        f"{space}/serverUri=h:46373;version=1.9.2;spark.driver.memory=3g;"
        "spark.executor.memory=3g;kyuubi.engine.id=application_1_0023;"
        "kyuubi.engine.url=h:44237;refId=6a07;sequence="
    )


def test_engine_node_prefix_without_attributes() -> None:
    assert (
        engine_node_prefix("/s/", "h", 1, "v", "r")
        == "/s/serverUri=h:1;version=v;refId=r;sequence="
    )


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"a;b": "1"}, "must not contain"),
        ({"a": "x;y"}, "must not contain ';'"),
        ({"a": "x/y"}, "'/'"),
    ],
)
def test_bad_attributes_are_rejected(attributes: dict[str, str], message: str) -> None:
    with pytest.raises(DiscoveryError, match=message):
        engine_node_prefix("/s", "h", 1, "v", "r", attributes)


@pytest.mark.parametrize(("host", "port"), [("h;x", 1), ("h/x", 1), ("h", 0), ("h", 70000)])
def test_bad_server_uri_is_rejected(host: str, port: int) -> None:
    with pytest.raises(DiscoveryError):
        server_node_prefix("kyuubi", host, port, "0.1.0")


def test_parse_gateway_node() -> None:
    info = parse_node_name(
        "serverUri=10.0.0.5:10009;version=0.1.0;sequence=0000000012", "/kyuubi", b"10.0.0.5:10009"
    )
    assert (info.host, info.port, info.version, info.sequence) == ("10.0.0.5", 10009, "0.1.0", 12)
    assert info.ref_id is None and dict(info.attributes) == {}
    assert info.path == "/kyuubi/serverUri=10.0.0.5:10009;version=0.1.0;sequence=0000000012"
    assert info.data == b"10.0.0.5:10009" and info.address == "10.0.0.5:10009"


def test_parse_engine_node_round_trips_the_prefix() -> None:
    attributes = {"kyuubi.engine.id": "local-1", "kyuubi.engine.appMgrInfo": "eyJhIjoxfQ=="}
    prefix = engine_node_prefix("/space", "::1", 4000, "0.1.0", "ref-1", attributes)
    name = prefix.rsplit("/", 1)[1] + "0000000003"
    info = parse_node_name(name, "/space")
    assert (info.host, info.port, info.ref_id, info.sequence) == ("::1", 4000, "ref-1", 3)
    assert dict(info.attributes) == attributes
    assert info.path == "/space/" + name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "lock",
        "version=1;sequence=1",
        "serverUri=host;sequence=1",
        "serverUri=host:x;sequence=1",
        "serverUri=host:99999",
        "serverUri=h:1;sequence=abc",
        "serverUri=h:1;sequence=\u00b2",
        "serverUri=h:1;;sequence=1",
    ],
)
def test_parse_rejects_non_service_names(name: str) -> None:
    with pytest.raises(DiscoveryError):
        parse_node_name(name)


@pytest.mark.parametrize(
    "name", ["alice", "bob@EXAMPLE.COM", "DOMAIN\\carol", "da ve", "j\u00fcrgen", "a" * 255, "x.y"]
)
def test_valid_segments(name: str) -> None:
    assert validate_path_segment(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        "a/b",
        "/",
        "a\x00b",
        "\x00",
        "tab\there",
        "new\nline",
        "del\x7f",
        "c1\x85",
        "sep\u2028",
        "priv\ue000",
        "spec\ufff0",
        " alice",
        "alice ",
        "a" * 256,
        "\u00e9" * 128,  # 256 bytes in UTF-8
    ],
)
def test_unsafe_segments_are_rejected(name: str) -> None:
    with pytest.raises(DiscoveryError):
        validate_path_segment(name)


def test_usernames_are_validated_in_every_path() -> None:
    for build in (engine_space, lock_path, counter_path):
        with pytest.raises(DiscoveryError):
            build("kyuubi", "0.1.0", "USER", "../admin", "default")
        with pytest.raises(DiscoveryError):
            build("kyuubi", "0.1.0", "USER", "alice", "a/b")
