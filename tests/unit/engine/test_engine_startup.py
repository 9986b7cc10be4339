"""Engine start-up pieces without a JVM: authentication, conf defaults, names, OpenSession
configuration split, and the command line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kyuubi_py import cli
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.engine.spark.engine import build_auth, engine_conf, secret_authenticator
from kyuubi_py.engine.spark.main import app_name
from kyuubi_py.engine.spark.session import split_configuration
from kyuubi_py.errors import AuthenticationError, ConfigError


def test_secret_authenticator() -> None:
    authenticate = secret_authenticator("s3cret")
    assert authenticate("alice", "s3cret") == "alice"
    for password in ("", "s3cre", "s3cret ", "S3CRET"):
        with pytest.raises(AuthenticationError):
            authenticate("alice", password)
    with pytest.raises(AuthenticationError):
        authenticate("a/b", "s3cret")  # not a valid user name


def test_build_auth_with_secret_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KYUUBI_ENGINE_SECRET", "from-env")
    authenticate, allow_nosasl = build_auth(KyuubiConf({"kyuubi.authentication": "NONE"}))
    assert allow_nosasl is False and authenticate is not None
    assert authenticate("bob", "from-env") == "bob"
    assert "KYUUBI_ENGINE_SECRET" not in os.environ  # Spark's workers must not inherit it


def test_build_auth_with_secret_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KYUUBI_ENGINE_SECRET", raising=False)
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file\n")
    authenticate, allow_nosasl = build_auth(
        KyuubiConf({"kyuubi.engine.secret.file": str(secret_file)})
    )
    assert authenticate is not None and authenticate("bob", "from-file") == "bob"
    assert not allow_nosasl
    secret_file.write_text("  \n")
    with pytest.raises(ConfigError, match="is empty"):
        build_auth(KyuubiConf({"kyuubi.engine.secret.file": str(secret_file)}))
    with pytest.raises(ConfigError, match="Cannot read"):
        build_auth(KyuubiConf({"kyuubi.engine.secret.file": str(tmp_path / "absent")}))


def test_build_auth_without_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KYUUBI_ENGINE_SECRET", raising=False)
    authenticate, allow_nosasl = build_auth(KyuubiConf())
    assert allow_nosasl and authenticate is not None and authenticate("x", "any") == "x"
    authenticate, allow_nosasl = build_auth(KyuubiConf({"kyuubi.authentication": "NOSASL"}))
    assert allow_nosasl and authenticate is None


def test_engine_port_defaults_to_ephemeral() -> None:
    assert engine_conf(KyuubiConf()).get_raw("kyuubi.frontend.thrift.binary.bind.port") == "0"
    for key in ("kyuubi.frontend.thrift.binary.bind.port", "kyuubi.frontend.bind.port"):
        conf = engine_conf(KyuubiConf({key: "12345"}))
        assert conf.get_raw("kyuubi.frontend.thrift.binary.bind.port") != "0"


def test_app_name() -> None:
    assert app_name(KyuubiConf()) == "kyuubi_py engine"
    conf = KyuubiConf(
        {
            "kyuubi.engine.user": "alice",
            "kyuubi.engine.ref.id": "r1",
            "kyuubi.engine.share.level": "user",
        }
    )
    assert app_name(conf) == "kyuubi_py_USER_SPARK_SQL_alice_default_r1"


def test_split_configuration() -> None:
    confs, database = split_configuration(
        {
            "use:database": "sales",
            "set:hiveconf:spark.sql.shuffle.partitions": "3",
            "set:hivevar:v": "1",
            "set:system:user.dir": "/",
            "set:env:PATH": "/x",
            "hive.server2.proxy.user": "mallory",
            "spark.sql.ansi.enabled": "false",
        }
    )
    assert database == "sales"
    assert confs == {
        "spark.sql.shuffle.partitions": "3",
        "v": "1",
        "spark.sql.ansi.enabled": "false",
    }
    assert split_configuration({"use:database": " "}) == ({}, None)


def test_cli_rejects_bad_conf_and_dispatches(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["engine", "--conf", "no-equals-sign"]) == 2
    assert "Expected key=value" in capsys.readouterr().err
    seen: list[KyuubiConf] = []
    monkeypatch.setitem(cli.COMMANDS, "zookeeper", ("test", lambda conf: seen.append(conf) or 7))
    assert cli.main(["zookeeper", "--conf", "a.b=c"]) == 7
    assert seen[0].get_raw("a.b") == "c"
    with pytest.raises(SystemExit):
        cli.main([])
