"""The spark-submit command line as data (S3: no shell, no secret on argv) and the process shell."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import EngineLaunchError
from kyuubi_py.server.engine_ref import EngineRef
from kyuubi_py.server.launcher import (
    REDACTED,
    EngineLaunchCommand,
    EngineProcess,
    LaunchLimiter,
    engine_main_file,
    redact_text,
)

SECRET = "s3cr3t-value-never-on-argv"
REF = EngineRef("kyuubi", "0.1.0", "USER", "alice", "alice", "default", "ref-1")


def build(settings: dict[str, str] | None = None, **kwargs: object) -> EngineLaunchCommand:
    conf = KyuubiConf(settings or {})
    return EngineLaunchCommand.build(
        REF,
        conf,
        spark_submit="/opt/spark/bin/spark-submit",
        secret=SECRET,
        ha_addresses="zk1:2181,zk2:2181",
        python="/venv/bin/python",
        base_env={"PATH": "/usr/bin", "PYSPARK_GATEWAY_PORT": "1234"},
        **kwargs,  # type: ignore[arg-type]
    )


def conf_args(argv: tuple[str, ...]) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == "--conf"]


def test_command_layout() -> None:
    command = build({"spark.master": "local[1]", "spark.executor.memory": "1g"})
    argv = command.argv
    assert argv[:7] == (
        "/opt/spark/bin/spark-submit",
        "--master",
        "local[1]",
        "--deploy-mode",
        "client",
        "--name",
        "kyuubi_USER_SPARK_SQL_alice_default_ref-1",
    )
    main = argv.index(engine_main_file())
    spark_side, app_side = conf_args(argv[:main]), conf_args(argv[main:])
    assert "spark.executor.memory=1g" in spark_side
    assert "spark.pyspark.python=/venv/bin/python" in spark_side
    assert "spark.pyspark.driver.python=/venv/bin/python" in spark_side
    assert all(arg.startswith("spark.") for arg in spark_side)
    assert all(arg.startswith("kyuubi.") for arg in app_side)
    for expected in (
        "kyuubi.engine.ref.id=ref-1",
        "kyuubi.engine.user=alice",
        "kyuubi.engine.share.level=USER",
        "kyuubi.engine.share.level.subdomain=default",
        "kyuubi.ha.addresses=zk1:2181,zk2:2181",
        "kyuubi.ha.namespace=kyuubi",
        "kyuubi.session.engine.idle.timeout=PT30M",
    ):
        assert expected in app_side


def test_engine_main_file_exists_in_the_package() -> None:
    path = Path(engine_main_file())
    assert path.name == "main.py" and path.parent.name == "spark"


def test_secret_is_in_env_only() -> None:
    command = build({"spark.executor.memory": "1g"})
    assert all(SECRET not in arg for arg in command.argv)
    assert command.env["KYUUBI_ENGINE_SECRET"] == SECRET
    assert SECRET not in command.redacted()
    assert SECRET not in repr(command)


def test_env() -> None:
    env = build().env
    assert env["SPARK_USER"] == "alice"
    assert env["PYSPARK_PYTHON"] == env["PYSPARK_DRIVER_PYTHON"] == "/venv/bin/python"
    assert env["PATH"] == "/usr/bin"
    assert "PYSPARK_GATEWAY_PORT" not in env  # the engine must start its own JVM


@pytest.mark.parametrize(
    "value", ["a;b", "$(id)", "`id`", "x\n--conf spark.jars=/evil.jar", "' \" \\", "--master yarn"]
)
def test_hostile_values_stay_one_argv_element(value: str) -> None:
    argv = build({"spark.app.tag": value}).argv
    assert f"spark.app.tag={value}" in argv
    assert "spark.jars=/evil.jar" not in argv
    assert argv.count("--master") == 1


def test_launcher_owned_keys_are_not_taken_from_conf() -> None:
    command = build(
        {
            "spark.pyspark.python": "/tmp/evil",
            "spark.submit.deployMode": "cluster",
            "spark.app.name": "other",
            "kyuubi.engine.ref.id": "forged",
            "kyuubi.engine.user": "root",
        }
    )
    joined = "\n".join(command.argv)
    assert "/tmp/evil" not in joined and "cluster" not in joined and "other" not in joined
    app_side = conf_args(command.argv[command.argv.index(engine_main_file()) :])
    # server-only identity keys never come from conf; the launcher's own come last and win
    assert "forged" not in joined and "kyuubi.engine.user=root" not in joined
    assert app_side[-8:][0] == "kyuubi.engine.ref.id=ref-1"


def test_server_only_and_undeclared_kyuubi_keys_stay_in_the_gateway() -> None:
    command = build(
        {
            "kyuubi.authentication.ldap.bindpw": "ldap-password",
            "kyuubi.frontend.thrift.binary.bind.port": "10009",
            "kyuubi.made.up.key": "x",
            "kyuubi.operation.incremental.collect": "true",
            "hive.server2.thrift.port": "1",
        }
    )
    joined = "\n".join(command.argv)
    assert "ldap-password" not in joined
    assert "bind.port" not in joined
    assert "kyuubi.made.up.key" not in joined
    assert "hive.server2" not in joined
    assert "kyuubi.operation.incremental.collect=true" in command.argv


def test_redaction() -> None:
    command = build({"spark.hadoop.fs.s3a.secret.key": "AKIAXXX", "spark.sql.x": "visible"})
    text = command.redacted()
    assert "AKIAXXX" not in text and REDACTED in text and "visible" in text
    log_line = f"conf spark.ssl.keyPassword=hunter2 token: abc and {SECRET}"
    cleaned = redact_text(log_line, SECRET)
    assert "hunter2" not in cleaned and "abc" not in cleaned and SECRET not in cleaned


# -- the process shell (a tiny script instead of spark-submit) --------------------------------


def script_command(tmp_path: Path, body: str) -> EngineLaunchCommand:
    script = tmp_path / "fake-submit"
    script.write_text(f"#!{sys.executable}\n{body}\n")
    script.chmod(0o755)
    return EngineLaunchCommand(
        (str(script), "arg;1", "$(id)"), {"KYUUBI_ENGINE_SECRET": "s"}, "app"
    )


def test_process_writes_its_log_and_exits(tmp_path: Path) -> None:
    body = (
        "import os, sys\n"
        "print('argv', sys.argv[1:], flush=True)\n"
        "print('secret set', os.environ['KYUUBI_ENGINE_SECRET'] == 's', flush=True)\n"
        "print('Exception: boom', file=sys.stderr)\n"
        "sys.exit(3)"
    )
    process = EngineProcess(script_command(tmp_path, body))
    process.start(tmp_path / "logs" / "app.log")
    deadline = time.monotonic() + 10
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() == 3
    lines = process.tail(10)
    assert lines[0] == "argv ['arg;1', '$(id)']"
    assert "secret set True" in lines
    assert lines[-1] == "Exception: boom"
    assert process.tail(1) == ["Exception: boom"]


def _gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "zombie" in status.read_text()
    except FileNotFoundError:
        return True


def test_kill_stops_the_whole_group_even_a_child_ignoring_sigterm(tmp_path: Path) -> None:
    # As with spark-submit: the JVM leader exits on SIGTERM, its Python driver may linger.
    child = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    body = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', {child!r}])\n"
        "time.sleep(0.3)\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(60)"
    )
    process = EngineProcess(script_command(tmp_path, body))
    process.start(tmp_path / "app.log")
    deadline = time.monotonic() + 10
    while not process.tail(1) and time.monotonic() < deadline:
        time.sleep(0.05)
    child_pid = int(process.tail(1)[0].split()[1])
    started = time.monotonic()
    process.kill(grace_s=1)
    assert 0.9 < time.monotonic() - started < 5
    deadline = time.monotonic() + 5
    while not (_gone(child_pid) and process.poll() is not None) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child_pid) and process.poll() is not None
    assert not process.alive


def test_missing_spark_submit_is_a_clear_error(tmp_path: Path) -> None:
    command = EngineLaunchCommand((str(tmp_path / "nope"),), {}, "app")
    with pytest.raises(EngineLaunchError, match="kyuubi.engine.spark.submit"):
        EngineProcess(command).start(tmp_path / "app.log")


def test_launch_limiter() -> None:
    limiter = LaunchLimiter(2)
    limiter.acquire(0)
    limiter.acquire(0)
    started = time.monotonic()
    with pytest.raises(EngineLaunchError, match="kyuubi.server.limit.engine.startup=2"):
        limiter.acquire(0.2)
    assert time.monotonic() - started >= 0.19
    limiter.release()
    limiter.acquire(0)
