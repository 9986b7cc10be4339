"""Spark session time zones (Java ZoneId rules), offsets checked against zoneinfo."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import numpy as np
import pytest

from kyuubi_py.engine.spark._timezone import load_zone


@pytest.mark.parametrize(
    "zone", ["America/Los_Angeles", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata",
             "America/Sao_Paulo", "Pacific/Apia", "Europe/Dublin", "America/St_Johns"],
)  # fmt: skip
def test_zone_offsets_agree_with_zoneinfo(zone: str) -> None:
    rng = np.random.default_rng(3)
    seconds = rng.integers(-2_500_000_000, 12_000_000_000, 4000)  # years 1890..2350
    got = load_zone(zone).utc_offsets(seconds)
    tz = zoneinfo.ZoneInfo(zone)
    expected = [
        dt.datetime.fromtimestamp(int(s), tz).utcoffset().total_seconds()  # type: ignore[union-attr]
        for s in seconds
    ]
    assert got.tolist() == expected


def test_zone_ids() -> None:
    zero = np.array([0], dtype=np.int64)
    for zone_id, offset in [("UTC", 0), ("Z", 0), ("GMT", 0), ("+05:30", 19800), ("-8:00", -28800),
                            ("GMT+8", 28800), ("UTC-03:30", -12600), ("+0530", 19800),
                            ("EST", -18000), ("PST", -28800), ("IST", 19800)]:  # fmt: skip
        assert load_zone(zone_id).utc_offsets(zero).tolist() == [offset], zone_id
    for bad in ("Not/AZone", "../etc/passwd", "+25:00"):
        with pytest.raises(ValueError):
            load_zone(bad)
