#!/usr/bin/env python3
"""Generate tests/data/math_f64.txt: correctly rounded f64 reference values
for fastloss::math::{exp_f64, ln_f64, log1p_f64}, computed with mpmath.

Each data line is

    <function> <input bits> <output bits>

with the IEEE-754 binary64 bit patterns written as 16 hex digits; the
function is one of `exp`, `ln`, `log1p`, `sigmoid`. Lines starting with `#` are
comments. The output is the exact function value (evaluated with mpmath at
80 significant decimal digits, ~266 bits) rounded to nearest-even binary64,
with gradual underflow into the subnormals and overflow to infinity.

Inputs (a fixed seed, so the file is reproducible) are spread log-uniformly
over each function's whole domain, both signs where meaningful, including
subnormals, plus dense samples at the edges: the overflow threshold and the
subnormal / zero thresholds of exp, values around 0 and 1, and values near -1
for log1p, plus the special inputs (zeros, infinities, NaN).

Usage: python3 tests/gen_math_reference.py   (needs mpmath; the output path is
relative to this script, so it runs from any directory)
"""

from __future__ import annotations

import importlib
import math
import os
import random
import struct
from collections.abc import Callable
from typing import Any

# mpmath ships no type information: keep it behind ``Any``.
mpmath: Any = importlib.import_module("mpmath")
mp = mpmath.mp
mpf = mpmath.mpf

mp.dps = 80
SAMPLES = 3000  # random samples per function, before the edge cases
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "math_f64.txt")

MAX = 1.7976931348623157e308
MIN_NORMAL = 2.2250738585072014e-308
MIN_SUB = 5e-324
INF = math.inf
NAN_BITS = 0x7FF8000000000000


def bits(x: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", x))[0])


def from_bits(b: int) -> float:
    return float(struct.unpack("<d", struct.pack("<Q", b))[0])


def round_f64(y: Any) -> float:
    """Round an mpf to the nearest binary64 (ties to even), with gradual
    underflow and overflow to infinity."""
    if mpmath.isnan(y):
        return math.nan
    if mpmath.isinf(y):
        return INF if y > 0 else -INF
    if y == 0:
        return 0.0
    sign = -1.0 if y < 0 else 1.0
    a = abs(y)
    _, e = mpmath.frexp(a)  # a = m * 2^e, 0.5 <= m < 1
    q = max(e - 53, -1074)  # quantum: ulp of the binade, or of the subnormals
    n = mpmath.ldexp(a, -q)  # exact scaling; the integer part fits 53 bits
    lo = int(mpmath.floor(n))
    frac = n - lo
    if frac > 0.5 or (frac == 0.5 and lo % 2 == 1):
        lo += 1
    try:
        r = math.ldexp(lo, q)  # exact: lo <= 2^53
    except OverflowError:
        r = INF
    return sign * r


def ref(name: str, x: float) -> float:
    if math.isnan(x):
        return math.nan
    X = mpf(x)
    if name == "exp":
        if x == INF:
            return INF
        if x == -INF:
            return 0.0
        return round_f64(mpmath.exp(X))
    if name == "ln":
        if x < 0:
            return math.nan
        if x == 0:
            return -INF
        if x == INF:
            return INF
        return round_f64(mpmath.log(X))
    if name == "log1p":
        if x < -1:
            return math.nan
        if x == -1:
            return -INF
        if x == INF:
            return INF
        if x == 0:
            return x  # keeps the sign of zero
        # exact 1 + x, then the log at working precision
        return round_f64(mpmath.log(mpmath.fadd(1, X, exact=True)))
    if name == "sigmoid":
        if x == INF:
            return 1.0
        if x == -INF:
            return 0.0
        return round_f64(1 / (1 + mpmath.exp(-X)))
    raise ValueError(name)


def loguniform(rng: random.Random, lo: float, hi: float) -> float:
    """|x| log-uniform in [lo, hi] (positive bounds)."""
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def random_bits(rng: random.Random, lo_bits: int, hi_bits: int) -> float:
    """Uniform over the bit patterns in [lo_bits, hi_bits] (positive floats):
    log-uniform over the magnitudes, subnormals included."""
    return from_bits(rng.randint(lo_bits, hi_bits))


def nudges(x: float, n: int) -> list[float]:
    """x and its n representable neighbours on each side."""
    b = bits(x)
    out = []
    for d in range(-n, n + 1):
        if 0 <= b + d < 0x7FF0000000000000:
            out.append(from_bits(b + d))
    return out


def exp_inputs(rng: random.Random) -> list[float]:
    xs: list[float] = []
    for _ in range(SAMPLES // 3):  # log-uniform magnitudes over the whole range
        m = random_bits(rng, 1, bits(746.0))
        xs.append(m if rng.random() < 0.5 else -m)
    for _ in range(SAMPLES // 3):  # uniform over the finite-result range
        xs.append(rng.uniform(-746.0, 710.0))
    for _ in range(SAMPLES // 3):  # moderate arguments
        xs.append(rng.uniform(-20.0, 20.0))
    ln_max = 709.782712893384  # exp overflows above this
    ln_min_normal = -708.3964185322641  # exp(x) = 2^-1022
    ln_min_sub = -744.4400719213812  # exp(x) = 2^-1074
    ln_zero = -745.1332191019412  # exp(x) = 2^-1075: below, the result is 0
    for edge in (ln_max, ln_min_normal, ln_min_sub, ln_zero):
        xs += nudges(edge, 20)
        xs += [edge + rng.uniform(-0.01, 0.01) for _ in range(60)]
    for _ in range(100):  # tiny arguments: exp(x) rounds to 1 or a neighbour
        x = loguniform(rng, 1e-20, 1e-6)
        xs.append(x if rng.random() < 0.5 else -x)
    xs += [0.0, -0.0, INF, -INF, math.nan, MIN_SUB, -MIN_SUB, MAX, -MAX, 1.0, -1.0]
    xs += [k * math.log(2) for k in range(-1074, 1024, 7)]  # reduction edges
    return xs


def ln_inputs(rng: random.Random) -> list[float]:
    xs: list[float] = []
    for _ in range(SAMPLES):  # log-uniform over (0, MAX], subnormals included
        xs.append(random_bits(rng, 1, bits(MAX)))
    for _ in range(150):  # subnormals
        xs.append(random_bits(rng, 1, bits(MIN_NORMAL) - 1))
    for _ in range(300):  # around 1
        d = loguniform(rng, 1e-17, 0.5)
        xs.append(1.0 + d if rng.random() < 0.5 else 1.0 - d)
    for _ in range(100):  # around the reduction boundary sqrt(2)/2 * 2^k
        xs.append(math.sqrt(0.5) * 2.0 ** rng.randint(-1000, 1000) * (1 + rng.uniform(-1e-6, 1e-6)))
    xs += nudges(1.0, 20) + nudges(math.sqrt(0.5), 5) + nudges(math.sqrt(2.0), 5)
    xs += nudges(MIN_NORMAL, 5) + nudges(MAX, 5)[:6] + nudges(MIN_SUB, 5)[5:]
    xs += [0.0, -0.0, INF, -INF, math.nan, -1.0, -MIN_SUB, 2.0, 0.5, math.e]
    return xs


def log1p_inputs(rng: random.Random) -> list[float]:
    xs: list[float] = []
    for _ in range(SAMPLES // 2):  # log-uniform over (0, MAX], subnormals
        xs.append(random_bits(rng, 1, bits(MAX)))
    for _ in range(SAMPLES // 2):  # log-uniform over (-1, 0), subnormals
        xs.append(-random_bits(rng, 1, bits(1.0) - 1))
    for _ in range(200):  # near -1
        xs.append(-1.0 + loguniform(rng, 1e-16, 0.5))
    for _ in range(200):  # around 0
        x = loguniform(rng, 1e-20, 0.5)
        xs.append(x if rng.random() < 0.5 else -x)
    for _ in range(100):  # 1 + x around sqrt(2)/2 * 2^k (reduction boundary)
        xs.append(math.sqrt(0.5) * 2.0 ** rng.randint(0, 60) * (1 + rng.uniform(-1e-6, 1e-6)) - 1.0)
    xs += nudges(-1.0, 20)[21:] + nudges(math.sqrt(0.5) - 1, 5) + nudges(math.sqrt(2.0) - 1, 5)
    xs += nudges(2.0**53, 3) + nudges(2.0**54, 3) + nudges(MAX, 5)[:6]
    xs += [0.0, -0.0, INF, -INF, math.nan, -1.0, -1.5, -MAX, MIN_SUB, -MIN_SUB]
    xs += [2.0**-k for k in range(0, 1075, 3)] + [-(2.0**-k) for k in range(1, 1075, 3)]
    return xs


def sigmoid_inputs(rng: random.Random) -> list[float]:
    """Both signs over the whole range: saturation near 1 above ~37, gradual
    underflow below ~-708, and tiny arguments where sigmoid is about 1/2."""
    xs = [0.0, -0.0, INF, -INF, math.nan, 1.0, -1.0, 36.7, 37.0, -708.0, -745.0, -746.0]
    for _ in range(1500):
        xs.append(loguniform(rng, 1e-300, 800.0))
        xs.append(-loguniform(rng, 1e-300, 800.0))
    for _ in range(400):
        xs.append(rng.uniform(-40.0, 40.0))
    return xs


def main() -> None:
    rng = random.Random(20240607)
    lines = [
        "# fastloss::math f64 reference: <function> <input bits> <correctly rounded output bits>",
        f"# generated by tests/gen_math_reference.py (mpmath, {mp.dps} digits); do not edit",
    ]
    gens: list[tuple[str, Callable[[random.Random], list[float]]]] = [
        ("exp", exp_inputs),
        ("ln", ln_inputs),
        ("log1p", log1p_inputs),
        ("sigmoid", sigmoid_inputs),
    ]
    for name, gen in gens:
        seen: set[int] = set()
        for x in gen(rng):
            b = bits(x) if not math.isnan(x) else NAN_BITS
            if b in seen:
                continue
            seen.add(b)
            y = ref(name, x)
            yb = bits(y) if not math.isnan(y) else NAN_BITS
            lines.append(f"{name} {b:016x} {yb:016x}")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines) - 2} samples to {OUT}")


if __name__ == "__main__":
    main()
