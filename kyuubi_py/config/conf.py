"""``KyuubiConf``: a string map with typed reads through :class:`ConfigEntry`.

Precedence (lowest first): built-in defaults < ``conf/kyuubi-defaults.conf`` < ``--conf k=v`` <
per-user ``___<user>___.<key>`` entries < session conf. The last two are applied by the gateway
when it builds a session's conf (:meth:`for_user`, :meth:`with_overlay`).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

from kyuubi_py.config.entry import REGISTRY, ConfigEntry
from kyuubi_py.errors import ConfigError

T = TypeVar("T")

DEFAULTS_FILE_NAME = "kyuubi-defaults.conf"
_USER_DEFAULT = re.compile(r"^___(?P<user>[^_].*?)___\.(?P<key>.+)$")


class KyuubiConf:
    """Thread-safe ``str -> str`` configuration with typed access."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values: dict[str, str] = dict(values or {})
        self._lock = threading.Lock()

    # -- reading -------------------------------------------------------------------------------
    def get(self, entry: ConfigEntry[T]) -> T:
        """The typed value of ``entry``; its default when unset (``None`` for optional keys)."""
        raw = self.get_raw(entry.key)
        if raw is None:
            for alternative in entry.alternatives:
                raw = self.get_raw(alternative)
                if raw is not None:
                    break
        if raw is None:
            return entry.default  # type: ignore[return-value]
        return entry.convert(raw)

    def get_raw(self, key: str) -> str | None:
        with self._lock:
            return self._values.get(key)

    def items(self) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self._values.items())

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter([k for k, _ in self.items()])

    # -- writing -------------------------------------------------------------------------------
    def set(self, key: str, value: str) -> KyuubiConf:
        """Set a raw value, validating it when the key is declared."""
        entry = REGISTRY.get(key)
        if entry is not None:
            entry.convert(value)
        with self._lock:
            self._values[key] = value
        return self

    def set_entry(self, entry: ConfigEntry[T], value: T) -> KyuubiConf:
        return self.set(entry.key, entry.render(value))

    def set_all(self, pairs: Iterable[tuple[str, str]]) -> KyuubiConf:
        for key, value in pairs:
            self.set(key, value)
        return self

    def unset(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)

    def copy(self) -> KyuubiConf:
        with self._lock:
            return KyuubiConf(self._values)

    # -- layering ------------------------------------------------------------------------------
    def load_defaults_file(self, path: Path) -> KyuubiConf:
        """Apply ``path`` (``key value`` or ``key=value`` lines, ``#`` comments) under the values
        already set, so ``--conf`` given earlier still wins."""
        for key, value in parse_defaults_file(path.read_text(encoding="utf-8")):
            with self._lock:
                self._values.setdefault(key, value)
        return self

    def for_user(self, user: str) -> KyuubiConf:
        """A copy with the ``___<user>___.<key>`` entries applied over the plain keys, and every
        per-user entry (of any user) removed."""
        result: dict[str, str] = {}
        overrides: dict[str, str] = {}
        for key, value in self.items():
            match = _USER_DEFAULT.match(key)
            if match is None:
                result[key] = value
            elif match.group("user") == user:
                overrides[match.group("key")] = value
        result.update(overrides)
        return KyuubiConf(result)

    def with_overlay(self, overlay: Mapping[str, str]) -> KyuubiConf:
        merged = self.copy()
        merged.set_all(overlay.items())
        return merged


def parse_conf_pair(text: str) -> tuple[str, str]:
    """``key=value`` as given to ``--conf``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"Expected key=value, got {text!r}")
    return key.strip(), value.strip()


def parse_defaults_file(text: str) -> list[tuple[str, str]]:
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = re.match(r"^(\S+?)\s*(?:=|\s)\s*(.*)$", stripped)
        if match is None:
            raise ConfigError(f"line {number}: expected 'key value', got {stripped!r}")
        pairs.append((match.group(1), match.group(2).strip()))
    return pairs


def find_conf_dir() -> Path | None:
    """``$KYUUBI_CONF_DIR``, else ``./conf`` when it holds a defaults file."""
    env = os.environ.get("KYUUBI_CONF_DIR")
    if env:
        return Path(env)
    local = Path.cwd() / "conf"
    return local if (local / DEFAULTS_FILE_NAME).exists() else None


def load_conf(cli_pairs: Iterable[str] = (), conf_dir: Path | None = None) -> KyuubiConf:
    """Build the process conf: ``--conf`` pairs over the defaults file over built-in defaults."""
    conf = KyuubiConf().set_all(parse_conf_pair(p) for p in cli_pairs)
    directory = conf_dir or find_conf_dir()
    if directory is not None and (directory / DEFAULTS_FILE_NAME).exists():
        conf.load_defaults_file(directory / DEFAULTS_FILE_NAME)
    return conf


def read_secret_file(path: str, key: str) -> str:
    """The secret held in ``path`` (named by config ``key``), stripped; a clear error otherwise."""
    try:
        secret = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"Cannot read {key} {path}: {exc.strerror}") from None
    if not secret:
        raise ConfigError(f"{key} {path} is empty")
    return secret
