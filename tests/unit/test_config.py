from __future__ import annotations

import re
from pathlib import Path

import pytest

from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf, load_conf, parse_conf_pair, parse_defaults_file
from kyuubi_py.config.docs import (
    BEGIN_MARKER,
    END_MARKER,
    load_all_entries,
    render_settings_page,
    render_table,
)
from kyuubi_py.config.entry import parse_duration, render_duration
from kyuubi_py.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT30M", 1800),
        ("PT3M", 180),
        ("P1DT2H", 93600),
        ("PT0.5S", 0.5),
        ("1500", 1.5),
        ("PT1H30M5S", 5405),
        ("-1", -0.001),
        ("pt5s", 5),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "P", "PT", "30M", "PTXS", "abc"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [1800.0, 180.0, 5.0, 0.5, 3 * 3600.0, 0.0, 5405.0])
def test_render_duration_round_trips(seconds: float) -> None:
    assert parse_duration(render_duration(seconds)) == seconds


def test_typed_get_uses_default_then_value_then_alternative() -> None:
    conf = KyuubiConf()
    assert conf.get(keys.FRONTEND_THRIFT_BINARY_BIND_PORT) == 10009
    conf.set("kyuubi.frontend.bind.port", "10010")  # Kyuubi's legacy name
    assert conf.get(keys.FRONTEND_THRIFT_BINARY_BIND_PORT) == 10010
    conf.set("kyuubi.frontend.thrift.binary.bind.port", "0")
    assert conf.get(keys.FRONTEND_THRIFT_BINARY_BIND_PORT) == 0
    assert conf.get(keys.SESSION_ENGINE_IDLE_TIMEOUT) == 1800.0
    assert conf.get(keys.OPERATION_QUERY_TIMEOUT) is None


def test_set_validates_declared_keys_only() -> None:
    conf = KyuubiConf()
    with pytest.raises(ConfigError, match="kyuubi.frontend.thrift.binary.bind.port"):
        conf.set("kyuubi.frontend.thrift.binary.bind.port", "70000")
    with pytest.raises(ConfigError, match="kyuubi.engine.share.level"):
        conf.set("kyuubi.engine.share.level", "EVERYONE")
    conf.set("spark.some.unknown.key", "anything")
    assert conf.get_raw("spark.some.unknown.key") == "anything"
    assert conf.set("kyuubi.engine.share.level", "group").get(keys.ENGINE_SHARE_LEVEL) == "GROUP"


def test_precedence_defaults_file_under_cli(tmp_path: Path) -> None:
    (tmp_path / "kyuubi-defaults.conf").write_text(
        "# comment\nkyuubi.session.idle.timeout PT1H\nkyuubi.engine.pool.size=3\n"
        "___bob___.kyuubi.engine.pool.size 5\n"
    )
    conf = load_conf(["kyuubi.engine.pool.size=2"], conf_dir=tmp_path)
    assert conf.get(keys.ENGINE_POOL_SIZE) == 2  # --conf beats the file
    assert conf.get(keys.SESSION_IDLE_TIMEOUT) == 3600.0
    assert conf.for_user("bob").get(keys.ENGINE_POOL_SIZE) == 5  # per-user beats --conf
    assert conf.for_user("alice").get(keys.ENGINE_POOL_SIZE) == 2
    assert "___bob___.kyuubi.engine.pool.size" not in conf.for_user("alice")
    overlaid = conf.for_user("bob").with_overlay({"kyuubi.engine.pool.size": "7"})
    assert overlaid.get(keys.ENGINE_POOL_SIZE) == 7  # session conf is the top layer


@pytest.mark.parametrize("pair", ["novalue", "=x", ""])
def test_parse_conf_pair_rejects_malformed(pair: str) -> None:
    with pytest.raises(ConfigError):
        parse_conf_pair(pair)


def test_parse_defaults_file_accepts_both_separators() -> None:
    assert parse_defaults_file("a.b 1\nc.d=2\n  \n# x\ne.f  =  three words\n") == [
        ("a.b", "1"),
        ("c.d", "2"),
        ("e.f", "three words"),
    ]


def test_every_entry_is_documented() -> None:
    for entry in load_all_entries():
        assert entry.doc.strip(), entry.key
        assert entry.since, entry.key
        if entry.default is not None:
            assert entry.convert(entry.default_text) == entry.default, entry.key


def test_generated_reference_is_up_to_date() -> None:
    settings = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert settings == render_settings_page(), "run `make docs-conf`"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split(BEGIN_MARKER, 1)[1].split(END_MARKER, 1)[0]
    assert table.strip() == render_table().strip(), "run `make docs-conf`"


def test_template_lists_only_declared_keys() -> None:
    template = (ROOT / "conf" / "kyuubi-defaults.conf.template").read_text(encoding="utf-8")
    declared = {e.key for e in load_all_entries()}
    commented_keys = re.findall(r"^#\s*((?:kyuubi|spark)\.\S+)\s", template, re.MULTILINE)
    assert commented_keys
    for key in commented_keys:
        assert key in declared, key
