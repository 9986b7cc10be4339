"""Typed configuration entries: every key is declared once, with its doc, type, default and the
release that introduced it. Creating an entry registers it, so the reference manual
(``docs/settings.md``) can be generated from the declarations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from kyuubi_py.errors import ConfigError

T = TypeVar("T")

#: Every declared entry, by key (alternative/legacy keys map to the same entry).
REGISTRY: dict[str, ConfigEntry[Any]] = {}


@dataclass(frozen=True)
class ConfigEntry(Generic[T]):
    """One configuration key. ``default`` is ``None`` for optional keys without a default."""

    key: str
    doc: str
    type_name: str
    default: T | None
    since: str
    parse: Callable[[str], T] = field(repr=False)
    render: Callable[[T], str] = field(repr=False, default=str)
    alternatives: tuple[str, ...] = ()
    #: Server-only keys that a client may never set in its session conf.
    server_only: bool = False

    def convert(self, raw: str) -> T:
        try:
            return self.parse(raw.strip())
        except (ValueError, ConfigError) as exc:
            message = f"Invalid value {raw!r} for {self.key} ({self.type_name}): {exc}"
            raise ConfigError(message) from exc

    @property
    def default_text(self) -> str:
        return "<undefined>" if self.default is None else self.render(self.default)


def _register(entry: ConfigEntry[T]) -> ConfigEntry[T]:
    for key in (entry.key, *entry.alternatives):
        if key in REGISTRY:
            raise ConfigError(f"Config key {key} is declared twice")
        REGISTRY[key] = entry
    return entry


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError("expected true or false")


_ISO_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)


def parse_duration(raw: str) -> float:
    """Seconds from an ISO-8601 duration (``PT30M``, ``P1DT2H``) or a number of milliseconds,
    as Kyuubi's ``timeConf`` accepts."""
    text = raw.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text) / 1000.0
    negative = text.startswith("-")
    match = _ISO_DURATION.match(text.lstrip("-"))
    if not match or text.lstrip("-").upper() in ("P", "PT"):
        raise ValueError("expected an ISO-8601 duration such as PT30S, or milliseconds")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    seconds = (
        parts.get("d", 0.0) * 86400
        + parts.get("h", 0.0) * 3600
        + parts.get("m", 0.0) * 60
        + parts.get("s", 0.0)
    )
    return -seconds if negative else seconds


def render_duration(seconds: float) -> str:
    if seconds < 0:
        return "-" + render_duration(-seconds)
    whole = int(seconds)
    if whole != seconds:
        return f"PT{seconds:g}S"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return text + (f"{secs}S" if secs or text == "PT" else "")


def _parse_seq(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _checked(
    parse: Callable[[str], T], check: Callable[[T], bool] | None, msg: str
) -> Callable[[str], T]:
    if check is None:
        return parse

    def parse_and_check(raw: str) -> T:
        value = parse(raw)
        if not check(value):
            raise ValueError(msg)
        return value

    return parse_and_check


def int_conf(
    key: str,
    *,
    doc: str,
    default: int | None,
    since: str,
    alternatives: Sequence[str] = (),
    check: Callable[[int], bool] | None = None,
    check_message: str = "value out of range",
    server_only: bool = False,
) -> ConfigEntry[int]:
    return _register(
        ConfigEntry(
            key,
            doc,
            "int",
            default,
            since,
            _checked(int, check, check_message),
            str,
            tuple(alternatives),
            server_only,
        )
    )


def bool_conf(
    key: str,
    *,
    doc: str,
    default: bool | None,
    since: str,
    alternatives: Sequence[str] = (),
    server_only: bool = False,
) -> ConfigEntry[bool]:
    return _register(
        ConfigEntry(
            key,
            doc,
            "boolean",
            default,
            since,
            _parse_bool,
            lambda v: str(v).lower(),
            tuple(alternatives),
            server_only,
        )
    )


def str_conf(
    key: str,
    *,
    doc: str,
    default: str | None,
    since: str,
    alternatives: Sequence[str] = (),
    choices: Sequence[str] | None = None,
    upper: bool = False,
    server_only: bool = False,
) -> ConfigEntry[str]:
    def parse(raw: str) -> str:
        value = raw.upper() if upper else raw
        if choices is not None and value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    type_name = "string" if choices is None else "enum: " + ", ".join(choices)
    return _register(
        ConfigEntry(
            key, doc, type_name, default, since, parse, str, tuple(alternatives), server_only
        )
    )


def duration_conf(
    key: str,
    *,
    doc: str,
    default: float | None,
    since: str,
    alternatives: Sequence[str] = (),
    server_only: bool = False,
) -> ConfigEntry[float]:
    """A duration, held in seconds."""
    return _register(
        ConfigEntry(
            key,
            doc,
            "duration",
            default,
            since,
            parse_duration,
            render_duration,
            tuple(alternatives),
            server_only,
        )
    )


def seq_conf(
    key: str,
    *,
    doc: str,
    default: Sequence[str] | None,
    since: str,
    alternatives: Sequence[str] = (),
    server_only: bool = False,
) -> ConfigEntry[tuple[str, ...]]:
    """A comma-separated list of strings."""
    return _register(
        ConfigEntry(
            key,
            doc,
            "seq",
            None if default is None else tuple(default),
            since,
            _parse_seq,
            ",".join,
            tuple(alternatives),
            server_only,
        )
    )
