"""Java's ``Float.toString`` / ``Double.toString``, as STS's text for floating point values.

``java_fp_string`` formats one value; ``float_as_double`` and ``java_fp_text`` apply it to
Arrow arrays (vectorized with numpy for the common FLOAT column case). Ports the JDK <= 18
``sun.misc.FloatingDecimal`` algorithm and follows the JDK 19+ shortest-decimal rule on request.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

I64Array = npt.NDArray[np.int64]

#: Java feature version whose Float/Double.toString STS text follows by default (see the
#: note below): Spark 4's baseline, and the JVM the reference STS ran on.
DEFAULT_JAVA_VERSION = 17
_SHORTEST_FP_JAVA_VERSION = 19

# ---------------------------------------------------------------------------------------------
# floating point: Java's Float.toString / Double.toString
#
# STS formats FLOAT as Double.valueOf(Float.toString(f)) and nested floats/doubles with
# toString, so the text depends on the JVM: JDK 19 replaced sun.misc.FloatingDecimal (which
# often prints more digits than needed, JDK-4511638: 7.1737912E7 for 7.173791E7f) by the
# shortest decimal with at least two digits. Spark 4 runs on Java 17 or 21; the default follows
# Java 17, like the STS these values were checked against.


_SIGNIF_MASK = 0x000FFFFFFFFFFFFF  # the 52 stored significand bits of a double

# FloatingDecimal tables: bit length of 5^i, and insignificantDigitsForPow2.
_N_5_BITS = (0, 3, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28, 31, 33, 35, 38, 40, 42, 45, 47, 49,
             52, 54, 56, 59, 61)  # fmt: skip
_INSIGNIFICANT_DIGITS = (0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 6,
                         7, 7, 7, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 11, 11, 11, 12, 12, 12, 12, 13,
                         13, 13, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 17, 17, 17, 18, 18, 18,
                         19)  # fmt: skip


def _java_layout(negative: bool, digits: str, dec_exponent: int) -> str:
    """FloatingDecimal.getChars: plain for 1e-3 <= |v| < 1e7, else d.dddE±n."""
    sign = "-" if negative else ""
    if 0 < dec_exponent < 8:
        whole = digits[:dec_exponent]
        if len(whole) < dec_exponent:
            return f"{sign}{whole}{'0' * (dec_exponent - len(whole))}.0"
        return f"{sign}{whole}.{digits[dec_exponent:] or '0'}"
    if -3 < dec_exponent <= 0:
        return f"{sign}0.{'0' * -dec_exponent}{digits}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{dec_exponent - 1}"


def _wrap(value: int, bits: int) -> int:
    """Java int (32) / long (64) overflow."""
    half = 1 << (bits - 1)
    return (value + half) % (1 << bits) - half


def _n5_bits(i: int) -> int:
    return _N_5_BITS[i] if i < len(_N_5_BITS) else i * 3


def _estimate_dec_exp(fract_bits: int, bin_exp: int) -> int:
    d2 = struct.unpack("<d", struct.pack("<Q", 0x3FF0000000000000 | (fract_bits & _SIGNIF_MASK)))
    estimate = (float(d2[0]) - 1.5) * 0.289529654 + 0.176091259 + bin_exp * 0.301029995663981
    return math.floor(estimate)


def _long_digits(value: int, insignificant: int) -> tuple[str, int]:
    """FloatingDecimal.developLongDigits: the exact integer, rounded at ``insignificant`` digits."""
    exponent = 0
    if insignificant:
        value, residue = divmod(value, 10**insignificant)
        exponent = insignificant
        value += residue >= (10**insignificant) >> 1
    text = str(value)
    return text.rstrip("0"), exponent + len(text)


def _round_up(digits: list[int], dec_exponent: int) -> int:
    i = len(digits) - 1
    while digits[i] == 9 and i > 0:
        digits[i] = 0
        i -= 1
    if digits[i] == 9:  # carry out of the first digit: Java keeps the (now zero) digit count
        digits[0] = 1
        return dec_exponent + 1
    digits[i] += 1
    return dec_exponent


@dataclass
class _DigitState:
    b: int
    s: int
    m: int
    tens: int
    width: int  # 32 / 64 for Java int / long arithmetic, 0 for FDBigInteger

    def step(self, *, first: bool = False) -> tuple[int, bool, bool]:
        """One digit: (q, low, high) after B = 10 * (B mod S), M = 10 * M."""
        q, rest = divmod(self.b, self.s)
        if self.width:
            self.b = _wrap(10 * rest, self.width)
            self.m = _wrap(10 * self.m, self.width)
            if self.m <= 0 and not first:  # Java: "m might overflow!" → stop here
                return q, True, True
            return q, self.b < self.m, _wrap(self.b + self.m, self.width) > self.tens
        self.b = 10 * rest
        self.m = 10 * self.m
        return q, self.b < self.m, self.tens <= self.b + self.m

    def low_difference(self) -> int:
        if self.width:
            return _wrap(_wrap(self.b << 1, self.width) - self.tens, self.width)
        return 2 * self.b - self.tens


def _dtoa(bin_exp: int, fract_bits: int, n_significant_bits: int) -> tuple[str, int]:
    """FloatingDecimal.BinaryToASCIIBuffer.dtoa (JDK <= 18): (digits, decExponent)."""
    tail_zeros = (fract_bits & -fract_bits).bit_length() - 1
    n_fract_bits = 53 - tail_zeros
    n_tiny_bits = max(0, n_fract_bits - bin_exp - 1)
    if -21 <= bin_exp <= 62 and n_tiny_bits == 0:
        # An integer below 2^63: printed exactly, minus digits a float cannot hold.
        p2 = bin_exp - n_significant_bits - 1
        insignificant = _INSIGNIFICANT_DIGITS[p2] if 1 < p2 < len(_INSIGNIFICANT_DIGITS) else 0
        shifted = fract_bits << (bin_exp - 52) if bin_exp >= 52 else fract_bits >> (52 - bin_exp)
        return _long_digits(shifted, insignificant)
    dec_exp = _estimate_dec_exp(fract_bits, bin_exp)
    b5, s5 = max(0, -dec_exp), max(0, dec_exp)
    b2 = b5 + n_tiny_bits + bin_exp - (n_fract_bits - 1)
    s2 = s5 + n_tiny_bits
    m2 = b5 + n_tiny_bits + bin_exp - n_significant_bits
    common = min(b2, s2)
    b2, s2, m2 = b2 - common, s2 - common, m2 - common
    if n_fract_bits == 1:
        m2 -= 1  # exact power of two: the next lower value is half as far away
    if m2 < 0:
        b2, s2, m2 = b2 - m2, s2 - m2, 0
    fract = fract_bits >> tail_zeros
    b_bits = n_fract_bits + b2 + _n5_bits(b5)
    ten_s_bits = s2 + 1 + _n5_bits(s5 + 1)
    if b_bits < 64 and ten_s_bits < 64:
        width = 32 if b_bits < 32 and ten_s_bits < 32 else 64
        s = _wrap(5**s5 << s2, width)
        state = _DigitState(
            _wrap((fract * 5**b5) << b2, width), s, _wrap(5**b5 << m2, width),
            _wrap(10 * s, width), width,
        )  # fmt: skip
    else:  # FDBigInteger arithmetic: no overflow, and ``high`` compares inclusively
        s = 5**s5 << s2
        state = _DigitState((fract * 5**b5) << b2, s, 5**b5 << m2, 10 * s, 0)
    return _dtoa_digits(state, dec_exp)


def _dtoa_digits(state: _DigitState, dec_exp: int) -> tuple[str, int]:
    digits: list[int] = []
    q, low, high = state.step(first=True)
    if q == 0 and not high:
        dec_exp -= 1  # the estimate was one too high
    else:
        digits.append(q)
    if dec_exp < -3 or dec_exp >= 8:
        low = high = False  # E-form needs a second digit
    while not low and not high:
        q, low, high = state.step()
        digits.append(q)
    dec_exponent = dec_exp + 1
    if high:
        difference = state.low_difference() if low else 1
        if difference > 0 or (difference == 0 and digits[-1] & 1):
            dec_exponent = _round_up(digits, dec_exponent)
    return "".join(map(str, digits)), dec_exponent


def _binary_parts(value: float, *, single: bool) -> tuple[bool, int, int, int]:
    """FloatingDecimal's view: (negative, binExp, fraction aligned to bit 52, significant bits)."""
    if single:
        bits = struct.unpack("<I", struct.pack("<f", value))[0]
        negative, fract, exp_bits, width, bias, total = bits >> 31, bits & 0x7FFFFF, 23, 23, 127, 32
        raw_exp = (bits >> 23) & 0xFF
    else:
        bits = struct.unpack("<Q", struct.pack("<d", value))[0]
        negative, fract, exp_bits, width, bias, total = (
            bits >> 63,
            bits & _SIGNIF_MASK,
            52,
            52,
            1023,
            64,
        )
        raw_exp = (bits >> 52) & 0x7FF
    if raw_exp == 0:  # subnormal: normalize
        leading_zeros = total - fract.bit_length()
        shift = leading_zeros - (total - 1 - exp_bits)
        fract <<= shift
        bin_exp, n_significant = 1 - shift, total - leading_zeros
    else:
        fract |= 1 << width
        bin_exp, n_significant = raw_exp, width + 1
    return bool(negative), bin_exp - bias, fract << (52 - width), n_significant


def _digits_and_exponent(text: str) -> tuple[str, int]:
    """(significant digits, decimal exponent of the first one) of a positive decimal string."""
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    all_digits = whole + fraction
    significant = all_digits.lstrip("0")
    leading_zeros = len(all_digits) - len(significant)
    return significant.rstrip("0") or "0", len(whole) - 1 - leading_zeros + int(exponent or 0)


def _shortest_digits(value: float, *, single: bool) -> tuple[str, int]:
    """JDK 19+: the shortest decimal that reads back as ``value``, but at least two digits."""
    text = np.format_float_scientific(np.float32(value), unique=True) if single else repr(value)
    digits, exponent = _digits_and_exponent(text)
    if len(digits) == 1:
        # One digit is never enough for Java: it takes the closest two-digit decimal, which
        # differs from "d.0" only for subnormals (Float.MIN_VALUE → 1.4E-45, not 1.0E-45).
        digits, exponent = _digits_and_exponent(f"{value:.1e}")
    return digits, exponent + 1


def java_fp_string(value: float, *, single: bool, java_version: int = DEFAULT_JAVA_VERSION) -> str:
    """Java's ``Float.toString`` (``single``) or ``Double.toString`` of ``value``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if java_version >= _SHORTEST_FP_JAVA_VERSION:
        return _java_layout(value < 0, *_shortest_digits(abs(value), single=single))
    negative, bin_exp, fract, n_significant = _binary_parts(value, single=single)
    return _java_layout(negative, *_dtoa(bin_exp, fract, n_significant))


def java_fp_text(arr: pa.Array, *, single: bool, java_version: int) -> pa.Array:
    """Java text of every value (per value in Python: only used inside complex types)."""
    values = arr.cast(pa.float32() if single else pa.float64()).to_pylist()
    return pa.array(
        [
            None if v is None else java_fp_string(v, single=single, java_version=java_version)
            for v in values
        ],
        pa.string(),
    )


def float_as_double(arr: pa.Array, java_version: int) -> pa.Array:
    """FLOAT as STS sends it, ``Double.valueOf(Float.toString(f))``: 1.1f → 1.1."""
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.float64())
    single = pc.fill_null(arr.cast(pa.float32()), 0.0)
    values = np.asarray(single.to_numpy(zero_copy_only=False), dtype=np.float32)
    if java_version >= _SHORTEST_FP_JAVA_VERSION:
        doubles = _shortest_float_doubles(single, values)
    else:
        doubles = _legacy_float_doubles(values)
    return pa.array(doubles, pa.float64(), mask=arr.is_null().to_numpy(zero_copy_only=False))


def _shortest_float_doubles(
    single: pa.Array, values: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    # Arrow prints the shortest string that reads back as the float32, as JDK 19+ does, except
    # for the two-digit minimum that only matters for subnormals.
    doubles = np.array(single.cast(pa.string()).cast(pa.float64()).to_numpy(), dtype=np.float64)
    tiny = np.finfo(np.float32).smallest_normal
    for i in np.flatnonzero((values != 0) & (np.abs(values) < tiny)):
        doubles[i] = float(java_fp_string(float(values[i]), single=True, java_version=19))
    return doubles


_N5_TABLE = np.array(_N_5_BITS, dtype=np.int64)
_INSIGNIFICANT_TABLE = np.array(_INSIGNIFICANT_DIGITS, dtype=np.int64)
_POW5 = np.array([5**i for i in range(28)], dtype=np.int64)
_POW10 = np.array([10**i for i in range(19)], dtype=np.int64)


def _legacy_float_doubles(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """``Double.valueOf(Float.toString(f))`` for JDK <= 18, vectorized.

    Runs FloatingDecimal's integer and int/long paths over numpy arrays; subnormals and the
    rare values that need its big-integer path (|f| beyond about 1e±15) go through
    ``java_fp_string`` one by one.
    """
    with np.errstate(invalid="ignore"):
        out = values.astype(np.float64)  # exact for zeros, infinities and NaN
    bits = values.view(np.uint32).astype(np.int64)
    raw_exp = (bits >> 23) & 0xFF
    normal = np.flatnonzero((raw_exp != 0) & (raw_exp != 255))
    fract = (bits[normal] & 0x7FFFFF) | (1 << 23)
    bin_exp = raw_exp[normal] - 127
    tail_zeros = np.log2((fract & -fract).astype(np.float64)).astype(np.int64)
    n_fract_bits = 24 - tail_zeros
    n_tiny_bits = np.maximum(0, n_fract_bits - bin_exp - 1)
    digits = np.zeros(normal.size, dtype=np.int64)
    exp10 = np.zeros(normal.size, dtype=np.int64)
    integer = (bin_exp >= -21) & (bin_exp <= 62) & (n_tiny_bits == 0)
    _legacy_integers(np.flatnonzero(integer), fract, bin_exp, digits, exp10)
    slow = _legacy_fractions(np.flatnonzero(~integer), fract, bin_exp, n_fract_bits, n_tiny_bits,
                             tail_zeros, digits, exp10)  # fmt: skip
    digits_text, exp10_text = pa.array(digits).cast(pa.string()), pa.array(exp10).cast(pa.string())
    text = pc.binary_join_element_wise(digits_text, "e", exp10_text, "")
    parsed = np.asarray(text.cast(pa.float64()).to_numpy(), dtype=np.float64)
    out[normal] = np.where(bits[normal] >> 31, -parsed, parsed)
    subnormal = np.flatnonzero((raw_exp == 0) & ((bits & 0x7FFFFF) != 0))
    for i in np.concatenate([subnormal, normal[slow]]):
        out[i] = float(java_fp_string(float(values[i]), single=True, java_version=17))
    return out


def _legacy_integers(
    sel: npt.NDArray[np.intp], fract: I64Array, bin_exp: I64Array, digits: I64Array,
    exp10: I64Array,
) -> None:  # fmt: skip
    """developLongDigits over the floats that are integers below 2^63."""
    be = bin_exp[sel]
    value = np.where(
        be >= 23, fract[sel] << np.maximum(be - 23, 0), fract[sel] >> np.maximum(23 - be, 0)
    )
    p2 = be - 25
    usable = (p2 > 1) & (p2 < _INSIGNIFICANT_TABLE.size)
    insignificant = np.where(
        usable, _INSIGNIFICANT_TABLE[np.clip(p2, 0, _INSIGNIFICANT_TABLE.size - 1)], 0
    )
    pow10 = _POW10[insignificant]
    quotient, residue = np.divmod(value, pow10)
    digits[sel] = quotient + ((insignificant > 0) & (residue >= pow10 >> 1))
    exp10[sel] = insignificant


def _legacy_fractions(
    sel: npt.NDArray[np.intp], fract: I64Array, bin_exp: I64Array, n_fract_bits: I64Array,
    n_tiny_bits: I64Array, tail_zeros: I64Array, digits: I64Array, exp10: I64Array,
) -> npt.NDArray[np.intp]:  # fmt: skip
    """dtoa's int/long digit loop over ``sel``; returns the positions left for the slow path."""
    be, nf, nt = bin_exp[sel], n_fract_bits[sel], n_tiny_bits[sel]
    d2 = (((fract[sel] << 29) & _SIGNIF_MASK) | 0x3FF0000000000000).view(np.float64)
    dec = np.floor((d2 - 1.5) * 0.289529654 + 0.176091259 + be * 0.301029995663981).astype(np.int64)
    b5, s5 = np.maximum(0, -dec), np.maximum(0, dec)
    b2, s2, m2 = b5 + nt + be - (nf - 1), s5 + nt, b5 + nt + be - 24
    common = np.minimum(b2, s2)
    b2, s2, m2 = b2 - common, s2 - common, m2 - common - (nf == 1)
    lift = np.minimum(m2, 0)
    b2, s2, m2 = b2 - lift, s2 - lift, m2 - lift

    def n5(i: I64Array) -> I64Array:
        return np.where(i < _N5_TABLE.size, _N5_TABLE[np.minimum(i, _N5_TABLE.size - 1)], i * 3)

    b_bits, ten_s_bits = nf + b2 + n5(b5), s2 + 1 + n5(s5 + 1)
    ints = (b_bits < 32) & (ten_s_bits < 32)
    longs = (b_bits < 64) & (ten_s_bits < 64) & ~ints
    f = fract[sel] >> tail_zeros[sel]
    for group, dtype in ((ints, np.int32), (longs, np.int64)):
        k = np.flatnonzero(group)
        with np.errstate(over="ignore"):
            b = (f[k] * _POW5[b5[k]]) << b2[k]
            s = _POW5[s5[k]] << s2[k]
            m = _POW5[b5[k]] << m2[k]
            acc, exponent = _digit_loop(b.astype(dtype), s.astype(dtype), m.astype(dtype), dec[k])
        digits[sel[k]] = acc
        exp10[sel[k]] = exponent
    return np.asarray(sel[~(ints | longs)], dtype=np.intp)


def _digit_loop(
    b: npt.NDArray[np.signedinteger], s: npt.NDArray[np.signedinteger],
    m: npt.NDArray[np.signedinteger], dec: I64Array,
) -> tuple[I64Array, I64Array]:  # fmt: skip
    """dtoa's digit generation over arrays; int32/int64 arrays overflow exactly as Java does."""
    ten = b.dtype.type(10)
    tens = s * ten
    q = b // s
    b, m = (b % s) * ten, m * ten
    low, high = b < m, (b + m) > tens
    skip = (q == 0) & ~high
    dec = dec - skip
    acc = np.where(skip, 0, q).astype(np.int64)
    count = (~skip).astype(np.int64)
    e_form = (dec < -3) | (dec >= 8)
    low, high = low & ~e_form, high & ~e_form
    active = np.flatnonzero(~low & ~high)
    while active.size:
        b_a, s_a, m_a = b[active], s[active], m[active]
        q = b_a // s_a
        b_a, m_a = (b_a % s_a) * ten, m_a * ten
        overflowed = m_a <= 0
        low_a = overflowed | (b_a < m_a)
        high_a = overflowed | ((b_a + m_a) > tens[active])
        acc[active] = acc[active] * 10 + q
        count[active] += 1
        b[active], m[active], low[active], high[active] = b_a, m_a, low_a, high_a
        active = active[~low_a & ~high_a]
    difference = (b << b.dtype.type(1)) - tens
    round_up = high & (~low | (difference > 0) | ((difference == 0) & ((acc & 1) == 1)))
    return acc + round_up, dec + 1 - count


__all__ = ["DEFAULT_JAVA_VERSION", "float_as_double", "java_fp_string", "java_fp_text"]
