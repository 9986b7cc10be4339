"""Where the engine secret comes from: env, then file, then a shared znode."""

from __future__ import annotations

from pathlib import Path

import pytest
from gw_fakes import FakeDiscovery

from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import ConfigError
from kyuubi_py.server.secret import resolve_engine_secret, secret_node_path


@pytest.fixture(autouse=True)
def no_env_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KYUUBI_ENGINE_SECRET", raising=False)


def test_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KYUUBI_ENGINE_SECRET", "from-env")
    (tmp_path / "s").write_text("from-file")
    conf = KyuubiConf({"kyuubi.engine.secret.file": str(tmp_path / "s")})
    assert resolve_engine_secret(conf, FakeDiscovery()) == "from-env"


def test_file(tmp_path: Path) -> None:
    (tmp_path / "s").write_text("  from-file\n")
    conf = KyuubiConf({"kyuubi.engine.secret.file": str(tmp_path / "s")})
    assert resolve_engine_secret(conf, FakeDiscovery()) == "from-file"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        resolve_engine_secret(
            KyuubiConf({"kyuubi.engine.secret.file": str(tmp_path / "empty")}), FakeDiscovery()
        )
    with pytest.raises(ConfigError, match="Cannot read"):
        resolve_engine_secret(
            KyuubiConf({"kyuubi.engine.secret.file": str(tmp_path / "no")}), FakeDiscovery()
        )


def test_znode_is_created_once_and_shared() -> None:
    store = FakeDiscovery()
    conf = KyuubiConf({"kyuubi.ha.namespace": "ns1"})
    first = resolve_engine_secret(conf, store)
    second = resolve_engine_secret(conf, store)
    assert first == second and len(first) >= 32
    assert store.nodes["/ns1_secret"] == first.encode()
    assert (
        secret_node_path(KyuubiConf({"kyuubi.ha.zookeeper.engine.secure.secret.node": "/x/y"}))
        == "/x/y"
    )
