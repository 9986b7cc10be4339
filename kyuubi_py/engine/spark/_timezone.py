"""Spark session time zones: Java ``ZoneId`` rules over the system tz database, vectorized.

``load_zone`` resolves a ``spark.sql.session.timeZone`` id as Spark's
``DateTimeUtils.getZoneId`` does (Java short ids, offset forms) and reads the zone's TZif file
(``zoneinfo.TZPATH``, else the ``tzdata`` package); ``Zone.utc_offsets`` maps arrays of UTC
seconds to offsets, also past the file's last transition (its POSIX TZ footer rule).
"""

from __future__ import annotations

import functools
import importlib.resources
import os
import re
import struct
import zoneinfo
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64Array = npt.NDArray[np.int64]


# ---------------------------------------------------------------------------------------------
# time zones (Java ZoneId semantics over the system tz database, vectorized)


def civil_from_days(days: I64Array) -> tuple[I64Array, I64Array, I64Array]:
    """Proleptic Gregorian (year, month, day) of days since 1970-01-01 (H. Hinnant)."""
    z = days + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


_JAVA_SHORT_IDS = {
    "ACT": "Australia/Darwin",
    "AET": "Australia/Sydney",
    "AGT": "America/Argentina/Buenos_Aires",
    "ART": "Africa/Cairo",
    "AST": "America/Anchorage",
    "BET": "America/Sao_Paulo",
    "BST": "Asia/Dhaka",
    "CAT": "Africa/Harare",
    "CNT": "America/St_Johns",
    "CST": "America/Chicago",
    "CTT": "Asia/Shanghai",
    "EAT": "Africa/Addis_Ababa",
    "ECT": "Europe/Paris",
    "IET": "America/Indiana/Indianapolis",
    "IST": "Asia/Kolkata",
    "JST": "Asia/Tokyo",
    "MIT": "Pacific/Apia",
    "NET": "Asia/Yerevan",
    "NST": "Pacific/Auckland",
    "PLT": "Asia/Karachi",
    "PNT": "America/Phoenix",
    "PRT": "America/Puerto_Rico",
    "PST": "America/Los_Angeles",
    "SST": "Pacific/Guadalcanal",
    "VST": "Asia/Ho_Chi_Minh",
    "EST": "-05:00",
    "MST": "-07:00",
    "HST": "-10:00",
}
_OFFSET_RE = re.compile(r"([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?")


@dataclass(frozen=True)
class _PosixRule:
    """The TZ string of a TZif footer: governs instants after the last listed transition."""

    std_offset: int
    dst_offset: int | None = None
    start: tuple[str, int] = ("", 0)  # (date spec, seconds after local midnight)
    end: tuple[str, int] = ("", 0)

    def utc_offsets(self, utc_seconds: I64Array) -> I64Array:
        if self.dst_offset is None:
            return np.full(utc_seconds.shape, self.std_offset, dtype=np.int64)
        years, _, _ = civil_from_days(np.floor_divide(utc_seconds + self.std_offset, 86_400))
        times: list[int] = []
        offsets: list[int] = []
        for year in np.unique(np.concatenate([years - 1, years, years + 1])).tolist():
            times.append(_rule_day(year, self.start[0]) * 86_400 + self.start[1] - self.std_offset)
            offsets.append(self.dst_offset)
            times.append(_rule_day(year, self.end[0]) * 86_400 + self.end[1] - self.dst_offset)
            offsets.append(self.std_offset)
        order = np.argsort(np.asarray(times, dtype=np.int64), kind="stable")
        sorted_times = np.asarray(times, dtype=np.int64)[order]
        sorted_offsets = np.asarray(offsets, dtype=np.int64)[order]
        index = np.searchsorted(sorted_times, utc_seconds, side="right") - 1
        return np.where(index >= 0, sorted_offsets[np.maximum(index, 0)], self.std_offset)


@dataclass(frozen=True)
class Zone:
    """UTC offsets of one zone: TZif transitions, then its footer rule."""

    transitions: I64Array
    offsets: I64Array
    initial_offset: int
    rule: _PosixRule | None

    def utc_offsets(self, utc_seconds: I64Array) -> I64Array:
        if self.transitions.size == 0:
            if self.rule is not None:
                return self.rule.utc_offsets(utc_seconds)
            return np.full(utc_seconds.shape, self.initial_offset, dtype=np.int64)
        index = np.searchsorted(self.transitions, utc_seconds, side="right") - 1
        result = np.where(index >= 0, self.offsets[np.maximum(index, 0)], self.initial_offset)
        if self.rule is not None:
            late = utc_seconds >= self.transitions[-1]
            if late.any():
                result[late] = self.rule.utc_offsets(utc_seconds[late])
        return np.asarray(result, dtype=np.int64)


def _fixed_zone(offset: int) -> Zone:
    empty = np.zeros(0, dtype=np.int64)
    return Zone(empty, empty, offset, None)


def _parse_offset(text: str) -> int | None:
    """Seconds east of UTC for a ZoneOffset id ('+8', '+08:00', '-0530', '+01:02:03')."""
    match = _OFFSET_RE.fullmatch(text)
    if match is None:
        return None
    sign, hours, minutes, seconds = match.groups()
    total = int(hours) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)
    if total > 18 * 3600:
        return None
    return -total if sign == "-" else total


@functools.lru_cache(maxsize=64)
def load_zone(zone_id: str) -> Zone:
    """A Spark session time zone id resolved as ``DateTimeUtils.getZoneId`` does."""
    normalized = re.sub(r"([+-])(\d):", r"\g<1>0\2:", zone_id, count=1)
    normalized = re.sub(r"([+-])(\d\d):(\d)$", r"\1\2:0\3", normalized, count=1)
    normalized = _JAVA_SHORT_IDS.get(normalized, normalized)
    if normalized in ("Z", "UTC", "GMT", "UT"):
        return _fixed_zone(0)
    for prefix in ("UTC", "GMT", "UT", ""):
        rest = normalized[len(prefix) :]
        if normalized.startswith(prefix) and rest[:1] in ("+", "-"):
            offset = _parse_offset(rest)
            if offset is None:
                raise ValueError(f"invalid time zone offset: {zone_id!r}")
            return _fixed_zone(offset)
    return _parse_tzif(_read_tzif(normalized))


def _read_tzif(key: str) -> bytes:
    if not key or key.startswith("/") or ".." in key.split("/"):
        raise ValueError(f"invalid time zone id: {key!r}")
    for directory in zoneinfo.TZPATH:
        path = os.path.join(directory, key)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                return handle.read()
    try:
        resource = importlib.resources.files("tzdata.zoneinfo").joinpath(key)
        return resource.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise ValueError(f"unknown time zone: {key!r}") from exc


def _parse_tzif(data: bytes) -> Zone:
    """RFC 8536 TZif: the 64-bit (v2+) block and footer when present, else the v1 block."""
    if data[:4] != b"TZif":
        raise ValueError("not a TZif file")
    version = data[4]
    counts = struct.unpack_from(">6l", data, 20)
    isut, isstd, leap, timecnt, typecnt, charcnt = counts
    time_size, pos = 4, 44
    if version >= ord("2"):
        pos += timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut
        isut, isstd, leap, timecnt, typecnt, charcnt = struct.unpack_from(">6l", data, pos + 20)
        time_size, pos = 8, pos + 44
    time_dtype = np.dtype(">i8" if time_size == 8 else ">i4")
    transitions = np.frombuffer(data, dtype=time_dtype, count=timecnt, offset=pos).astype(np.int64)
    pos += timecnt * time_size
    type_index = np.frombuffer(data, dtype=np.uint8, count=timecnt, offset=pos).astype(np.int64)
    pos += timecnt
    utoffs = [struct.unpack_from(">l", data, pos + 6 * i)[0] for i in range(typecnt)]
    pos += typecnt * 6 + charcnt + leap * (time_size + 4) + isstd + isut
    offsets = np.asarray(utoffs, dtype=np.int64)[type_index]
    rule = None
    if time_size == 8 and data[pos : pos + 1] == b"\n":
        footer = data[pos + 1 : data.index(b"\n", pos + 1)].decode("ascii")
        rule = _parse_posix_tz(footer) if footer else None
    return Zone(transitions, offsets, int(utoffs[0]), rule)


_POSIX_NAME = r"(?:<[^>]*>|[A-Za-z]{3,})"
_POSIX_OFFSET = r"[+-]?\d{1,3}(?::\d{1,2}(?::\d{1,2})?)?"
_POSIX_RE = re.compile(
    rf"{_POSIX_NAME}(?P<std>{_POSIX_OFFSET})"
    rf"(?:{_POSIX_NAME}(?P<dst>{_POSIX_OFFSET})?"
    rf"(?:,(?P<start>[^,/]+)(?:/(?P<start_time>{_POSIX_OFFSET}))?"
    rf",(?P<end>[^,/]+)(?:/(?P<end_time>{_POSIX_OFFSET}))?)?)?"
)


def _posix_seconds(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("+-").split(":")] + [0, 0]
    return sign * (parts[0] * 3600 + parts[1] * 60 + parts[2])


def _parse_posix_tz(text: str) -> _PosixRule:
    match = _POSIX_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"unsupported TZ rule: {text!r}")
    std = -_posix_seconds(match["std"])  # POSIX offsets count west of UTC
    if match["start"] is None:
        return _PosixRule(std)
    dst = -_posix_seconds(match["dst"]) if match["dst"] else std + 3600
    start_time = _posix_seconds(match["start_time"] or "2")
    end_time = _posix_seconds(match["end_time"] or "2")
    return _PosixRule(std, dst, (match["start"], start_time), (match["end"], end_time))


def _days_from_civil(year: int, month: int, day: int) -> int:
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _rule_day(year: int, spec: str) -> int:
    """Days since the epoch of a POSIX TZ date ('Jn', 'n' or 'Mm.w.d') in ``year``."""
    jan1 = _days_from_civil(year, 1, 1)
    if spec.startswith("J"):
        n = int(spec[1:])
        return jan1 + n - 1 + (1 if _is_leap(year) and n >= 60 else 0)
    if spec.startswith("M"):
        month, week, weekday = (int(p) for p in spec[1:].split("."))
        first = _days_from_civil(year, month, 1)
        day = first + (weekday - (first + 4) % 7) % 7 + (week - 1) * 7  # 1970-01-01: Thursday
        length = _MONTH_DAYS[month - 1] + (1 if month == 2 and _is_leap(year) else 0)
        while day >= first + length:
            day -= 7
        return day
    return jan1 + int(spec)


__all__ = ["Zone", "civil_from_days", "load_zone"]
