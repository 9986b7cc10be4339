"""Collected Spark values → HiveServer2 wire arrays, with Spark Thrift Server 4.3's text.

``to_wire_array`` turns what pyspark's ``DataFrame._collect_as_arrow()`` yields into the wire
form ``rowset.encode_columnar_rowset`` takes, with STS's text for every type
(``HiveResult.toHiveString`` as called by ``RowSetUtils``). Primitive types are formatted with
vectorized numpy/pyarrow; values *inside* complex types are too, except floating point numbers,
maps holding astral-plane characters, calendar intervals and geometries, which are formatted per
value in Python (rare, and their text rules do not map onto Arrow kernels).

Columns whose type Arrow cannot carry arrive rewritten by ``schema.collect_sql`` and are
formatted here with their original Spark type.

Imports only ``pyspark.sql.types`` from Spark; it never starts a JVM.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    CalendarIntervalType,
    CharType,
    DataType,
    DateType,
    DayTimeIntervalType,
    DecimalType,
    DoubleType,
    FloatType,
    GeographyType,
    GeometryType,
    IntegerType,
    LongType,
    MapType,
    ShortType,
    StringType,
    StructType,
    TimestampNTZType,
    TimestampType,
    TimeType,
    VarcharType,
    YearMonthIntervalType,
)

from kyuubi_py.engine.spark._geometry import spatial_text
from kyuubi_py.engine.spark._java_float import DEFAULT_JAVA_VERSION, float_as_double, java_fp_text
from kyuubi_py.engine.spark._timezone import Zone, civil_from_days, load_zone
from kyuubi_py.engine.spark.schema import column_kind
from kyuubi_py.protocol.rowset import ColumnKind

I64Array = npt.NDArray[np.int64]

_STRING_LIKE = (StringType, CharType, VarcharType)
_SPATIAL = (GeometryType, GeographyType)


def _is_string_type(dt: DataType) -> bool:
    return isinstance(dt, _STRING_LIKE)


# ---------------------------------------------------------------------------------------------
# wire arrays


def to_wire_array(
    arr: pa.Array | pa.ChunkedArray,
    dt: DataType,
    session_tz: str,
    *,
    row_based: bool = False,
    java_version: int = DEFAULT_JAVA_VERSION,
) -> pa.Array:
    """The wire form of one collected column for ``rowset.encode_columnar_rowset``.

    ``arr`` is what ``_collect_as_arrow`` returned for a column of Spark type ``dt`` (after
    ``collect_sql`` where ``needs_string_cast(dt)``); ``session_tz`` is
    ``spark.sql.session.timeZone``. ``row_based`` selects STS's row-mode text, which differs
    only for collated strings (STS quotes those in columnar results). ``java_version`` is the
    feature version of the JVM whose ``Float/Double.toString`` the text follows (the engine's own
    JVM is the natural choice: STS would run on the same one).
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    kind = column_kind(dt)
    if kind is ColumnKind.STRING and pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.string())
    if kind is ColumnKind.DOUBLE:
        if isinstance(dt, FloatType):
            return float_as_double(arr, java_version)
        return arr.cast(pa.float64())
    if kind is ColumnKind.BINARY and pa.types.is_large_binary(arr.type):
        return arr
    if kind is not ColumnKind.STRING:
        return arr.cast(_FIXED_ARROW_TYPES[kind])
    if _is_string_type(dt):
        collated = isinstance(dt, StringType) and dt.collation != "UTF8_BINARY"
        # STS matches only the default-collation StringType in its columnar switch; collated
        # strings fall through to toHiveString(nested = true) and arrive quoted.
        if collated and not row_based:
            return _quoted(_as_string(arr))
        return arr if _is_arrow_string(arr.type) else arr.cast(pa.string())
    if isinstance(dt, _SPATIAL) and not _is_arrow_string(arr.type):
        # RowSetUtils formats geometries with nested = false: no quotes at top level.
        return spatial_text(arr, quoted=False, java_version=java_version)
    return _text(arr, dt, _Context(session_tz or _arrow_tz(arr) or "UTC", java_version))


_FIXED_ARROW_TYPES: dict[ColumnKind, pa.DataType] = {
    ColumnKind.BOOL: pa.bool_(),
    ColumnKind.BYTE: pa.int8(),
    ColumnKind.I16: pa.int16(),
    ColumnKind.I32: pa.int32(),
    ColumnKind.I64: pa.int64(),
    ColumnKind.BINARY: pa.binary(),
}


@dataclass(frozen=True)
class _Context:
    session_tz: str
    java_version: int

    def zone(self) -> Zone:
        return load_zone(self.session_tz)


def _arrow_tz(arr: pa.Array) -> str | None:
    tz = getattr(arr.type, "tz", None)
    return tz if isinstance(tz, str) else None


def _is_arrow_string(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _as_string(arr: pa.Array) -> pa.Array:
    return arr if _is_arrow_string(arr.type) else arr.cast(pa.string())


def _with_nulls_of(source: pa.Array, text: pa.Array) -> pa.Array:
    """``text`` with NULL wherever ``source`` is NULL."""
    if source.null_count == 0:
        return text
    return pc.if_else(source.is_valid(), text, pa.scalar(None, text.type))


def _join(*pieces: pa.Array | str) -> pa.Array:
    """Element-wise concatenation; any NULL piece makes the row NULL."""
    # Arrow's kernel wants one string type: large_string as soon as any piece has 64-bit
    # offsets (spark.sql.execution.arrow.useLargeVarTypes).
    arrays = [p for p in pieces if not isinstance(p, str)]
    large = any(pa.types.is_large_string(a.type) for a in arrays)
    target = pa.large_string() if large else pa.string()
    typed = [pa.scalar(p, target) if isinstance(p, str) else p.cast(target) for p in pieces]
    return pc.binary_join_element_wise(*typed, pa.scalar("", target))


def _join_lists(lists: pa.Array, separator: str) -> pa.Array:
    """Each list of strings joined with ``separator`` (NULL lists stay NULL)."""
    return pc.binary_join(lists, pa.scalar(separator, lists.type.value_type))


def _quoted(text: pa.Array) -> pa.Array:
    return _join('"', text, '"')


def _null_text(arr: pa.Array) -> pa.Array:
    return pc.fill_null(arr, "null")


def _text(arr: pa.Array, dt: DataType, ctx: _Context) -> pa.Array:
    """``toHiveString(v, nested = true)`` for every row; NULL rows stay NULL."""
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.string())
    if _is_arrow_string(arr.type) and not _is_string_type(dt):
        return arr  # rewritten by collect_sql / cast in Spark: already STS's text
    formatter = _formatter(dt)
    if formatter is None:
        raise TypeError(
            f"cannot format Arrow {arr.type} as Spark {dt.simpleString()}; "
            "collect it through collect_sql()"
        )
    return formatter(arr, dt, ctx)


Formatter = Callable[[pa.Array, DataType, _Context], pa.Array]


def _formatter(dt: DataType) -> Formatter | None:
    for spark_type, formatter in _FORMATTERS:
        if isinstance(dt, spark_type):
            return formatter
    return None


def _cast_text(arr: pa.Array, dt: DataType, ctx: _Context) -> pa.Array:
    return arr.cast(pa.string())  # booleans → true/false, integers → decimal digits


def _float_text(arr: pa.Array, dt: DataType, ctx: _Context) -> pa.Array:
    return java_fp_text(arr, single=isinstance(dt, FloatType), java_version=ctx.java_version)


def _string_text(arr: pa.Array, dt: DataType, ctx: _Context) -> pa.Array:
    return _quoted(_as_string(arr))  # no escaping: STS writes "\"" + s + "\""


def _binary_text(arr: pa.Array, dt: DataType, ctx: _Context) -> pa.Array:
    return _utf8_text(arr)


def _spatial_nested(arr: pa.Array, dt: DataType, ctx: _Context) -> pa.Array:
    return spatial_text(arr, quoted=True, java_version=ctx.java_version)


# ---------------------------------------------------------------------------------------------
# text built as byte matrices: one fixed-width row of ASCII per value, cut to per-row lengths

_ZERO = ord("0")


def _digit_matrix(values: I64Array, width: int) -> npt.NDArray[np.uint8]:
    """Zero-padded decimal digits of non-negative ``values``, one row of ``width`` per value."""
    out = np.full((values.size, width), _ZERO, dtype=np.uint8)
    rest = values.copy()
    for column in range(width - 1, max(width - 20, -1), -1):  # int64 has at most 19 digits
        rest, digit = np.divmod(rest, 10)
        out[:, column] += digit.astype(np.uint8)
    return out


def _digit_count(values: I64Array) -> I64Array:
    """Number of decimal digits of non-negative ``values`` (1 for 0)."""
    bounds = np.array([10**k for k in range(1, 19)], dtype=np.int64)
    return np.searchsorted(bounds, values, side="right").astype(np.int64) + 1


def _matrix_strings(matrix: npt.NDArray[np.uint8], lengths: I64Array, *, right: bool) -> pa.Array:
    """Row i as a string of its first (or, if ``right``, last) ``lengths[i]`` bytes."""
    columns = np.arange(matrix.shape[1])
    if right:
        keep = columns >= matrix.shape[1] - lengths[:, None]
    else:
        keep = columns < lengths[:, None]
    data = matrix[keep]
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    large = int(offsets[-1]) > np.iinfo(np.int32).max
    string_type = pa.large_string() if large else pa.string()
    offsets_buffer = pa.py_buffer(offsets if large else offsets.astype(np.int32))
    return pa.Array.from_buffers(
        string_type, lengths.size, [None, offsets_buffer, pa.py_buffer(data)]
    )


def _fraction_lengths(fraction: I64Array, digits: int) -> I64Array:
    """Length of '.ddd' with trailing zeros trimmed; 0 when the fraction is zero."""
    trailing = np.zeros(fraction.size, dtype=np.int64)
    for k in range(1, digits):
        trailing += fraction % 10**k == 0
    return np.where(fraction == 0, 0, 1 + digits - trailing)


def _patched(text: pa.Array, rows: npt.NDArray[np.bool_], replacement: pa.Array) -> pa.Array:
    if not rows.any():
        return text
    return pc.replace_with_mask(text, pa.array(rows), replacement.cast(text.type))


# ---------------------------------------------------------------------------------------------
# decimals


def _decimal_text(arr: pa.Array, dt: DataType, ctx: _Context) -> pa.Array:
    """``BigDecimal.toPlainString``: all ``scale`` digits, never exponent notation."""
    scale = int(arr.type.scale)
    if scale < 0 or not pa.types.is_decimal128(arr.type):
        return _decimal_text_wide(arr)
    words = np.frombuffer(arr.buffers()[1], dtype="<i8", count=2 * (arr.offset + len(arr)))
    low, high = words[2 * arr.offset :: 2], words[2 * arr.offset + 1 :: 2]
    # Unscaled values that fit an int64 (nearly all in practice) are laid out in numpy.
    fits = (high == (low >> 63)) & (low != np.iinfo(np.int64).min)
    values = np.where(fits, low, 0)
    text = _decimal_matrix_text(values, int(arr.type.precision), scale)
    text = _patched(text, ~fits, _decimal_text_wide(arr.filter(pa.array(~fits))))
    return _with_nulls_of(arr, text)


def _decimal_matrix_text(values: I64Array, precision: int, scale: int) -> pa.Array:
    negative = values < 0
    magnitude = np.abs(values)
    if scale <= 18:
        whole, fraction = np.divmod(magnitude, 10**scale)
    else:
        whole, fraction = np.zeros_like(magnitude), magnitude
    whole_width = max(precision - scale, 1, int(_digit_count(whole).max(initial=1)))
    parts = [np.full((values.size, 1), ord("-"), dtype=np.uint8), _digit_matrix(whole, whole_width)]
    if scale:
        parts += [
            np.full((values.size, 1), ord("."), dtype=np.uint8),
            _digit_matrix(fraction, scale),
        ]
    matrix = np.hstack(parts)
    whole_digits = _digit_count(whole)
    lengths = negative + whole_digits + (scale + 1 if scale else 0)
    # The sign goes right before the first kept digit (right-aligned rows).
    sign_column = 1 + whole_width - whole_digits - 1
    matrix[negative, sign_column[negative]] = ord("-")
    return _matrix_strings(matrix, lengths, right=True)


def _decimal_text_wide(arr: pa.Array) -> pa.Array:
    """The general path: Arrow decimal → unscaled integer string, point placed by hand."""
    scale = int(arr.type.scale)
    if not (pa.types.is_decimal128(arr.type) or pa.types.is_decimal256(arr.type)):
        arr = arr.cast(pa.decimal128(38, scale))  # decimal32/64 → the 16-byte layout
    # Arrow's decimal → string switches to exponent notation for small values ('1E-10');
    # the unscaled integer (same buffers read as scale 0) never does.
    wide = pa.decimal256(76, 0) if pa.types.is_decimal256(arr.type) else pa.decimal128(38, 0)
    unscaled = pa.Array.from_buffers(wide, len(arr), arr.buffers(), arr.null_count, arr.offset)
    digits_signed = unscaled.cast(pa.string())
    digits = pc.utf8_ltrim(digits_signed, "-")
    sign = pc.if_else(pc.starts_with(digits_signed, "-"), "-", "")
    if scale < 0:
        zeros = "0" * -scale
        return pc.if_else(pc.equal(digits, "0"), "0", _join(sign, digits, zeros))
    if scale == 0:
        return digits_signed
    padded = pc.utf8_lpad(digits, scale + 1, "0")
    whole = pc.utf8_slice_codeunits(padded, 0, -scale)
    fraction = pc.utf8_slice_codeunits(padded, -scale)
    return _join(sign, whole, ".", fraction)


# ---------------------------------------------------------------------------------------------
# binary


def _utf8_text(arr: pa.Array) -> pa.Array:
    """Binary as STS's UTF8 binary formatter: ``new String(bytes, UTF_8)``."""
    binary = arr.cast(pa.large_binary() if pa.types.is_large_binary(arr.type) else pa.binary())
    try:
        return binary.cast(pa.string() if pa.types.is_binary(binary.type) else pa.large_string())
    except pa.ArrowInvalid:
        # Malformed UTF-8 somewhere: decode per value with U+FFFD replacement, as Java does.
        return pa.array(
            [None if b is None else b.decode("utf-8", "replace") for b in binary.to_pylist()],
            pa.string(),
        )


# ---------------------------------------------------------------------------------------------
# dates and times

_US_PER_SECOND = 1_000_000
_US_PER_DAY = 86_400 * _US_PER_SECOND


def _year_text(year: I64Array) -> pa.Array:
    """Java ``uuuu`` (SignStyle.EXCEEDS_PAD): 4 digits, '+' above 9999, '-' below 0."""
    digits = pc.utf8_lpad(pa.array(np.abs(year)).cast(pa.string()), 4, "0")
    sign = np.where(year > 9999, "+", np.where(year < 0, "-", ""))
    return _join(pa.array(sign, pa.string()), digits)


def _put(matrix: npt.NDArray[np.uint8], column: int, values: I64Array, width: int) -> None:
    matrix[:, column : column + width] = _digit_matrix(values, width)


def _date_time_text(
    days: I64Array, clock: tuple[I64Array, I64Array] | None, fraction_digits: int = 6
) -> pa.Array:
    """'yyyy-MM-dd[ HH:mm:ss[.fff]]' for day numbers and (seconds of day, fraction) pairs."""
    year, month, day = civil_from_days(days)
    regular = (year >= 0) & (year <= 9999)
    width = 10 if clock is None else 20 + fraction_digits
    matrix = np.empty((days.size, width), dtype=np.uint8)
    _put(matrix, 0, np.where(regular, year, 0), 4)
    matrix[:, [4, 7]] = ord("-")
    _put(matrix, 5, month, 2)
    _put(matrix, 8, day, 2)
    lengths = np.full(days.size, 10, dtype=np.int64)
    if clock is not None:
        seconds, fraction = clock
        matrix[:, 10] = ord(" ")
        matrix[:, 11:] = _clock_text_matrix(seconds, fraction, fraction_digits)
        lengths = 19 + _fraction_lengths(fraction, fraction_digits)
    text = _matrix_strings(matrix, lengths, right=False)
    # Years beyond 0..9999 take a sign and more digits (Java 'uuuu'): rebuild those rows.
    odd = ~regular
    if odd.any():
        tails = _matrix_strings(matrix[odd, 4:], lengths[odd] - 4, right=False)
        text = _patched(text, odd, _join(_year_text(year[odd]), tails))
    return text


def _clock_text_matrix(
    seconds: I64Array, fraction: I64Array, fraction_digits: int
) -> npt.NDArray[np.uint8]:
    """Rows of 'HH:mm:ss.fff' with all ``fraction_digits`` digits."""
    matrix = np.empty((seconds.size, 9 + fraction_digits), dtype=np.uint8)
    hours, rest = np.divmod(seconds, 3600)
    matrix[:, [2, 5]], matrix[:, 8] = ord(":"), ord(".")
    _put(matrix, 0, hours, 2)
    _put(matrix, 3, rest // 60, 2)
    _put(matrix, 6, rest % 60, 2)
    _put(matrix, 9, fraction, fraction_digits)
    return matrix


def _clock_text(seconds: I64Array, fraction: I64Array, fraction_digits: int) -> pa.Array:
    """'HH:mm:ss[.fff]' with trailing fraction zeros trimmed (TIME values)."""
    matrix = _clock_text_matrix(seconds, fraction, fraction_digits)
    return _matrix_strings(matrix, 8 + _fraction_lengths(fraction, fraction_digits), right=False)


def _int64_values(arr: pa.Array) -> I64Array:
    ints = pc.fill_null(arr.cast(pa.int64()), 0)
    return np.asarray(ints.to_numpy(zero_copy_only=False), dtype=np.int64)


def _date_text(arr: pa.Array, dt: DataType, ctx: _Context) -> pa.Array:
    days = _int64_values(arr.cast(pa.date32()).cast(pa.int32()))
    return _with_nulls_of(arr, _date_time_text(days, None))


def _timestamp_text(arr: pa.Array, dt: DataType, ctx: _Context) -> pa.Array:
    """'yyyy-MM-dd HH:mm:ss[.fraction]' (TimestampFormatter.getFractionFormatter)."""
    micros = _int64_values(arr.cast(pa.timestamp("us", getattr(arr.type, "tz", None))))
    if isinstance(dt, TimestampType):
        # pyspark's Arrow timestamps are instants (UTC-normalized); STS prints the wall clock
        # of the session time zone.
        utc_seconds = np.floor_divide(micros, _US_PER_SECOND)
        micros = micros + ctx.zone().utc_offsets(utc_seconds) * _US_PER_SECOND
    days, micros_of_day = np.divmod(micros, _US_PER_DAY)
    seconds, fraction = np.divmod(micros_of_day, _US_PER_SECOND)
    return _with_nulls_of(arr, _date_time_text(days, (seconds, fraction)))


def _time_text(arr: pa.Array, dt: DataType, ctx: _Context) -> pa.Array:
    """TIME as Spark casts it to string: 'HH:mm:ss[.fraction]' (STS itself rejects TIME)."""
    nanos = _int64_values(arr.cast(pa.time64("ns")))
    seconds, fraction = np.divmod(nanos, 1_000_000_000)
    return _with_nulls_of(arr, _clock_text(seconds, fraction, 9))


# ---------------------------------------------------------------------------------------------
# intervals


def _magnitude(values: I64Array) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.uint64]]:
    """(negative, |value|) without overflow at the minimum int64."""
    negative = values < 0
    magnitude = np.where(negative, ~values, values).astype(np.uint64) + negative.astype(np.uint64)
    return negative, magnitude


def _sign_text(negative: npt.NDArray[np.bool_]) -> pa.Array:
    return pa.array(np.where(negative, "-", ""), pa.string())


def _day_time_text(arr: pa.Array, dt: DataType, ctx: _Context) -> pa.Array:
    """Hive style '[-]d HH:mm:ss.nnnnnnnnn' whatever the interval's fields (IntervalUtils)."""
    micros = _int64_values(arr.cast(pa.duration("us")))
    negative, magnitude = _magnitude(micros)
    days, rest = np.divmod(magnitude, np.uint64(_US_PER_DAY))
    seconds, fraction = np.divmod(rest.astype(np.int64), _US_PER_SECOND)
    days = days.astype(np.int64)  # at most 106751991
    day_digits = _digit_count(days)
    day_width = int(day_digits.max(initial=1))
    matrix = np.empty((days.size, 1 + day_width + 19), dtype=np.uint8)
    _put(matrix, 1, days, day_width)
    clock = _clock_text_matrix(seconds, fraction * 1000, 9)
    matrix[:, 1 + day_width] = ord(" ")
    matrix[:, 2 + day_width :] = clock
    # Right-aligned rows: the sign sits just before the first digit of the day count.
    matrix[negative, (day_width - day_digits)[negative]] = ord("-")
    lengths = negative + day_digits + 19
    return _with_nulls_of(arr, _matrix_strings(matrix, lengths, right=True))


def _year_month_text(arr: pa.Array, dt: DataType, ctx: _Context) -> pa.Array:
    """Hive style '[-]y-m' from the month count ``collect_sql`` produces."""
    months = _int64_values(arr)
    negative, magnitude = _magnitude(months)
    years, rest = np.divmod(magnitude, np.uint64(12))
    text = _join(
        _sign_text(negative), pa.array(years).cast(pa.string()), "-",
        pa.array(rest).cast(pa.string()),
    )  # fmt: skip
    return _with_nulls_of(arr, text)


def _java_div(a: int, b: int) -> tuple[int, int]:
    """Java's truncating ``/`` and ``%``."""
    quotient = abs(a) // b * (1 if a >= 0 else -1)
    return quotient, a - quotient * b


def _calendar_interval_string(months: int, days: int, micros: int) -> str:
    """``CalendarInterval.toString`` ('1 years 2 months 3 days 4 hours 5 minutes 6.5 seconds')."""
    if months == 0 and days == 0 and micros == 0:
        return "0 seconds"
    parts: list[str] = []
    years, months = _java_div(months, 12)
    hours, rest = _java_div(micros, 3_600_000_000)
    minutes, rest = _java_div(rest, 60_000_000)
    for value, unit in ((years, "years"), (months, "months"), (days, "days")):
        if value:
            parts.append(f"{value} {unit}")
    if micros:
        for value, unit in ((hours, "hours"), (minutes, "minutes")):
            if value:
                parts.append(f"{value} {unit}")
        if rest:
            whole, fraction = _java_div(rest, _US_PER_SECOND)
            digits = f"{abs(fraction):06d}".rstrip("0")
            sign = "-" if rest < 0 and whole == 0 else ""
            parts.append(f"{sign}{whole}{'.' + digits if digits else ''} seconds")
    return " ".join(parts)


def _calendar_interval_text(arr: pa.Array, dt: DataType, ctx: _Context) -> pa.Array:
    # Per value in Python: Arrow has no kernel for this text and calendar intervals are rare.
    values = arr.to_pylist()
    return pa.array(
        [
            None
            if v is None
            else _calendar_interval_string(v.months, v.days, v.nanoseconds // 1000)
            for v in values
        ],
        pa.string(),
    )


# ---------------------------------------------------------------------------------------------
# complex types


def _nested(arr: pa.Array, dt: DataType, ctx: _Context) -> pa.Array:
    return _null_text(_text(arr, dt, ctx))


def _list_parts(arr: pa.Array) -> tuple[I64Array, pa.Array]:
    """(offsets from 0, the child values those offsets index) of a possibly sliced list array."""
    offsets = np.asarray(arr.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    start = int(offsets[0])
    return offsets - start, arr.values.slice(start, int(offsets[-1]) - start)


def _list_from(arr: pa.Array, offsets: I64Array, child: pa.Array) -> pa.Array:
    """``child`` regrouped by ``offsets`` with the NULL rows of list array ``arr``."""
    if isinstance(child, pa.ChunkedArray):
        child = child.combine_chunks()
    large = pa.types.is_large_list(arr.type)
    factory = pa.LargeListArray if large else pa.ListArray
    offset_array = pa.array(offsets, pa.int64() if large else pa.int32())
    return factory.from_arrays(offset_array, child, mask=arr.is_null() if arr.null_count else None)


def _array_text(arr: pa.Array, dt: DataType, ctx: _Context) -> pa.Array:
    assert isinstance(dt, ArrayType)
    offsets, values = _list_parts(arr)
    elements = _nested(values, dt.elementType, ctx)
    return _join("[", _join_lists(_list_from(arr, offsets, elements), ","), "]")


def _java_sorted_joined(groups: pa.Array) -> pa.Array:
    """Sort each list of strings by Java ``String.compareTo`` (UTF-16 units) and join."""
    joined: list[str | None] = []
    for group in groups.to_pylist():
        if group is None:
            joined.append(None)
        else:
            joined.append(",".join(sorted(group, key=lambda s: s.encode("utf-16-be"))))
    return pa.array(joined, pa.string())


def _map_text(arr: pa.Array, dt: DataType, ctx: _Context) -> pa.Array:
    """'{k:v,...}' with the entry strings sorted (STS: ``.toSeq.sorted``).

    Takes an Arrow map or the list<struct<key, value>> that ``collect_sql`` makes of one.
    """
    assert isinstance(dt, MapType)
    offsets, pairs = _list_parts(arr)
    key_text = _nested(pairs.field(0), dt.keyType, ctx)
    entries = _join(key_text, ":", _nested(pairs.field(1), dt.valueType, ctx))
    if pc.any(pc.match_substring_regex(entries, r"[\x{10000}-\x{10FFFF}]")).as_py():
        # Astral characters order differently in UTF-16 (Java) and UTF-8 (Arrow): sort in Python.
        body = _java_sorted_joined(_list_from(arr, offsets, entries))
    else:
        owner = np.repeat(np.arange(len(arr), dtype=np.int64), np.diff(offsets))
        table = pa.table({"owner": owner, "entry": entries})
        ordered = table.sort_by([("owner", "ascending"), ("entry", "ascending")]).column("entry")
        body = _join_lists(_list_from(arr, offsets, ordered), ",")
    return _join("{", body, "}")


def _struct_text(arr: pa.Array, dt: DataType, ctx: _Context) -> pa.Array:
    """'{"a":1,"b":"z"}': field names unescaped, nested values as toHiveString(nested)."""
    assert isinstance(dt, StructType)
    if not dt.fields:
        return _with_nulls_of(arr, pa.array(["{}"] * len(arr), pa.string()))
    pieces: list[pa.Array | str] = ["{"]
    for i, field in enumerate(dt.fields):
        pieces.append(("," if i else "") + f'"{field.name}":')
        pieces.append(_nested(arr.field(i), field.dataType, ctx))
    pieces.append("}")
    return _with_nulls_of(arr, _join(*pieces))


_FORMATTERS: list[tuple[type[DataType] | tuple[type[DataType], ...], Formatter]] = [
    ((BooleanType, ByteType, ShortType, IntegerType, LongType), _cast_text),
    ((FloatType, DoubleType), _float_text),
    (DecimalType, _decimal_text),
    (_STRING_LIKE, _string_text),
    (BinaryType, _binary_text),
    (DateType, _date_text),
    ((TimestampType, TimestampNTZType), _timestamp_text),
    (TimeType, _time_text),
    (DayTimeIntervalType, _day_time_text),
    (YearMonthIntervalType, _year_month_text),
    (CalendarIntervalType, _calendar_interval_text),
    (ArrayType, _array_text),
    (MapType, _map_text),
    (StructType, _struct_text),
    (_SPATIAL, _spatial_nested),
]


__all__ = ["to_wire_array"]
