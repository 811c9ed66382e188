//! Rows of more than `SMALL` logits, one at a time: pass 1 (the row's
//! maximum, then its sum of exponentials, and the dense target weights' sums),
//! and pass 2 (the gradient and second derivative).

// Lane loops index several fixed-size arrays by lane: that is what lets
// them vectorize.
#![allow(clippy::needless_range_loop)]

use super::*;

/// Row statistics of pass 1.
struct Stats<T> {
    /// m = max z (−inf counted as `T::MIN`).
    max: T,
    /// s = Σ exp(z_c − m); NaN when the row holds NaN or +inf.
    sum: f64,
    /// Σ a_c·(m − z_c) over the dense target weights (0 unless `dense`).
    dense: f64,
    /// Σ a_c over the dense target weights (0 unless `dense`).
    weight: f64,
}

/// Virtual lanes of pass 1's sums (four chunks of [`LANES`] side by side, so
/// that the adds of one chunk do not wait for the previous one's).
const WIDE: usize = 4 * LANES;

/// Rounds of [`WIDE`] logits whose terms a lane keeps in a plain `T` sum
/// before they join its compensated `f64` one.
const BLOCK_ROUNDS: usize = 4;

/// `m = max(m, x)` lane by lane (NaN in `x` never wins).
#[inline(always)]
fn max_lanes<T: Float>(m: &mut [T; LANES], x: &[T; LANES]) {
    for l in 0..LANES {
        m[l] = if x[l] > m[l] { x[l] } else { m[l] };
    }
}

/// The row maximum `m` of `z[..n]` (−inf counted as `T::MIN`, NaN skipped):
/// exact, whatever the order. The lanes start at `T::MIN`, so `−inf` never
/// wins (see [`term_floor`]). The chunks are merged lane by lane, then the lanes
/// by a pairwise tree: a scan of the lanes would be a chain of `WIDE`
/// dependent compares per row.
#[inline(always)]
fn row_max<T: Float>(z: &[T], n: usize) -> T {
    let rounds = n / WIDE;
    // Full rounds in register-sized chunks (see `Wide`).
    let mut c: Wide<T> = [[T::MIN; LANES]; WIDE / LANES];
    for x in z[..rounds * WIDE].chunks_exact(WIDE) {
        for (cj, xj) in c.iter_mut().zip(x.chunks_exact(LANES)) {
            max_lanes(cj, xj.try_into().unwrap());
        }
    }
    let (o, len) = (rounds * WIDE, n - rounds * WIDE);
    if len > 0 && rounds > 0 {
        // The last WIDE logits, again in part: a maximum does not mind.
        let x = &z[n - WIDE..n];
        for (cj, xj) in c.iter_mut().zip(x.chunks_exact(LANES)) {
            max_lanes(cj, xj.try_into().unwrap());
        }
    } else if len > 0 {
        let x: [T; WIDE] = window(z, o, len, T::MIN);
        for (j, cj) in c.iter_mut().enumerate() {
            let mut xj = [T::MIN; LANES];
            for l in 0..LANES {
                let i = j * LANES + l;
                xj[l] = if i < len { x[i] } else { T::MIN };
            }
            max_lanes(cj, &xj);
        }
    }
    let [mut m, c1, c2, c3] = c;
    max_lanes(&mut m, &c1);
    max_lanes(&mut m, &c2);
    max_lanes(&mut m, &c3);
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            m[l] = if m[l + width] > m[l] {
                m[l + width]
            } else {
                m[l]
            };
        }
        width /= 2;
    }
    m[0]
}

/// One round of pass 1: `exp(z − m)` added to `s`, by
/// [`Float::exp_term`]. Only the first `valid` lanes change. With `STORE`
/// the terms are also written to `e`, for the gradient, which then needs no
/// exp of its own but where `exp_term` may have clamped (see
/// [`exact_terms`]).
#[inline(always)]
fn sum_round<T: Float, const STORE: bool>(
    max: T,
    x: &[T; WIDE],
    s: &mut Wide<T>,
    e: &mut [T; WIDE],
    valid: usize,
) {
    let lo = term_floor(max, false);
    for (j, sj) in s.iter_mut().enumerate() {
        for l in 0..LANES {
            let i = j * LANES + l;
            let t = term(x[i], max, lo, false);
            if STORE {
                e[i] = t;
            }
            // Past `valid`, +0 (a select, not a masked store, which the
            // next round's load could not forward from).
            sj[l] = sj[l] + if i < valid { t } else { T::ZERO };
        }
    }
}

/// [`WIDE`] sums as four register-sized chunks: a `[T; WIDE]` stays in
/// memory, and each round would wait on the previous round's store.
type Wide<T> = [[T; LANES]; WIDE / LANES];

/// The dense part of one round: `a·(m − z)` added to `acc` and
/// `a = w·(keep·t + spread)` to `wa` (`t = 0` unless `probs`), every term
/// ≥ 0. Only the first `valid` lanes change.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn dense_round<T: Float>(
    max: T,
    x: &[T; WIDE],
    w: &[T; WIDE],
    t: &[T; WIDE],
    acc: &mut [f64; WIDE],
    wa: &mut [f64; WIDE],
    probs: bool,
    keep: f64,
    spread: f64,
    valid: usize,
) {
    let m = max.to_f64();
    for l in 0..WIDE {
        let a = w[l].to_f64()
            * if probs {
                keep * t[l].to_f64() + spread
            } else {
                spread
            };
        let own = if a != 0.0 {
            a * (m - x[l].to_f64())
        } else {
            0.0
        };
        if l < valid {
            acc[l] += own;
            wa[l] += a;
        }
    }
}

/// Adds a block's plain sums `s` to the lane sums: `total + comp` is the
/// lane's sum to about one rounding of `f64` plus the block's own roundings,
/// however long the row. For `f64` the sums are compensated (Neumaier); for
/// `f32` the plain `f64` sum already is (its relative error, at most
/// n·2^-53, is nothing next to the terms' 2^-24).
#[inline(always)]
fn flush<T: Float>(total: &mut [f64; WIDE], comp: &mut [f64; WIDE], s: &Wide<T>) {
    for (j, sj) in s.iter().enumerate() {
        for (l, v) in sj.iter().enumerate() {
            let (i, b) = (j * LANES + l, v.to_f64());
            if T::MANTISSA_DIGITS <= 24 {
                total[i] += b;
            } else {
                let a = total[i];
                let t = a + b;
                comp[i] += if a >= b { (a - t) + b } else { (b - t) + a };
                total[i] = t;
            }
        }
    }
}

/// Sums `WIDE` lanes: four chunks lane by lane, then [`fold_lanes`].
#[inline(always)]
fn fold_wide(a: &[f64; WIDE]) -> f64 {
    let mut lanes = [0.0; LANES];
    for (j, part) in a.chunks_exact(LANES).enumerate() {
        for l in 0..LANES {
            lanes[l] = if j == 0 { part[l] } else { lanes[l] + part[l] };
        }
    }
    fold_lanes(lanes)
}

/// A full round of [`stats`] at `o`: its terms into `s` (and `e` with
/// `STORE`).
#[inline(always)]
fn full_round<T: Float, const STORE: bool>(
    z: &[T],
    max: T,
    o: usize,
    s: &mut Wide<T>,
    e: &mut [T],
) {
    let x = z[o..o + WIDE].try_into().unwrap();
    if STORE {
        let eo = (&mut e[o..o + WIDE]).try_into().unwrap();
        sum_round::<T, true>(max, x, s, eo, WIDE);
    } else {
        sum_round::<T, false>(max, x, s, &mut [T::ZERO; WIDE], WIDE);
    }
}

/// What [`dense_round`] needs of a row, beside the round.
struct DenseArgs<'a, T> {
    z: &'a [T],
    w: &'a [T],
    t: &'a [T],
    max: T,
    dense: bool,
    probs: bool,
    keep: f64,
    spread: f64,
}

impl<T: Float> DenseArgs<'_, T> {
    /// The dense part of the round at `o` (`len` logits), when `dense`.
    #[inline(always)]
    fn round(&self, o: usize, len: usize, acc: &mut [f64; WIDE], wa: &mut [f64; WIDE]) {
        if !self.dense {
            return;
        }
        let t = if self.probs {
            window(self.t, o, len, T::ZERO)
        } else {
            [T::ZERO; WIDE]
        };
        let (x, w) = (
            window(self.z, o, len, T::ZERO),
            window(self.w, o, len, T::ZERO),
        );
        dense_round(
            self.max,
            &x,
            &w,
            &t,
            acc,
            wa,
            self.probs,
            self.keep,
            self.spread,
            len,
        );
    }
}

/// Pass 1 over a row of `n > SMALL` logits, in two sweeps (the row is in L1
/// for the second): the exact maximum m, then s = Σ exp(z_c − m) (terms in
/// (0, 1], plain sums in `T` within a block of rounds, compensated `f64`
/// sums across blocks) and, when `dense`, Σ a_c·(m − z_c) and Σ a_c.
/// `z`, `w` and `t` start at the row and may extend past it. With `STORE`
/// the terms exp(z_c − m) go to `e[..n]`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn stats<T: Float, const STORE: bool>(
    z: &[T],
    n: usize,
    w: &[T],
    t: &[T],
    dense: bool,
    probs: bool,
    keep: f64,
    spread: f64,
    e: &mut [T],
) -> Stats<T> {
    let max = row_max(z, n);
    let mut acc = [0.0; WIDE];
    let mut wa = [0.0; WIDE];
    let mut total = [0.0; WIDE];
    let mut comp = [0.0; WIDE];
    let d = DenseArgs {
        z,
        w,
        t,
        max,
        dense,
        probs,
        keep,
        spread,
    };
    // Blocks of BLOCK_ROUNDS rounds, each in a plain sum. The full blocks
    // have a loop of fixed length (unrolled: `s` stays in registers).
    let (rounds, full) = (n.div_ceil(WIDE), n / WIDE);
    let mut k = 0;
    while k + BLOCK_ROUNDS <= full {
        let mut s: Wide<T> = [[T::ZERO; LANES]; WIDE / LANES];
        for r in 0..BLOCK_ROUNDS {
            let o = (k + r) * WIDE;
            full_round::<T, STORE>(z, max, o, &mut s, e);
            d.round(o, WIDE, &mut acc, &mut wa);
        }
        flush(&mut total, &mut comp, &s);
        k += BLOCK_ROUNDS;
    }
    // The last block: fewer full rounds, and the partial round if any.
    if k < rounds {
        let mut s: Wide<T> = [[T::ZERO; LANES]; WIDE / LANES];
        for k in k..full {
            full_round::<T, STORE>(z, max, k * WIDE, &mut s, e);
            d.round(k * WIDE, WIDE, &mut acc, &mut wa);
        }
        if rounds > full {
            let (o, len) = (full * WIDE, n - full * WIDE);
            let mut eo = [T::ZERO; WIDE];
            sum_round::<T, STORE>(max, &window(z, o, len, T::ZERO), &mut s, &mut eo, len);
            if STORE {
                e[o..o + len].copy_from_slice(&eo[..len]);
            }
            d.round(o, len, &mut acc, &mut wa);
        }
        flush(&mut total, &mut comp, &s);
    }
    let sum = if max == T::INFINITY {
        f64::NAN
    } else {
        for l in 0..WIDE {
            total[l] += comp[l];
        }
        fold_wide(&total)
    };
    let (dense, weight) = if dense {
        (fold_wide(&acc), fold_wide(&wa))
    } else {
        (0.0, 0.0)
    };
    Stats {
        max,
        sum,
        dense,
        weight,
    }
}

/// Scalars of pass 2 over a row of logits.
#[derive(Clone, Copy)]
struct Pass2<T> {
    max: T,
    kind: u8,
    hess: bool,
    coef: T,
    ks: T,
    keep: T,
    spread: T,
    ca: T,
    inv: T,
}

/// One chunk of pass 2: `g = coef·exp(z − m) − sub_c` (or `0 − sub_c`
/// without `SOFT`, when A = 0) and `h = ca·q·(1 − q)` with
/// `q = exp(z − m)·inv`, where `g` holds exp(z − m) on entry (pass 1 left
/// it there). `sub_c` is 0 (PLAIN), `ks·w_c` (SMOOTH) or
/// `ks·w_c·(keep·t_c + spread)` (PROBS).
#[inline(always)]
fn grad_chunk<T: Float, const SOFT: bool>(
    q: &Pass2<T>,
    w: &[T; LANES],
    t: &[T; LANES],
    g: &mut [T; LANES],
    h: &mut [T; LANES],
) {
    for l in 0..LANES {
        let sub = match q.kind {
            PLAIN => T::ZERO,
            SMOOTH => q.ks * w[l],
            _ => q.ks * w[l] * (q.keep * t[l] + q.spread),
        };
        if SOFT {
            let e = g[l];
            g[l] = q.coef * e - sub;
            if q.hess {
                let p = e * q.inv;
                h[l] = q.ca * p * (T::ONE - p);
            }
        } else {
            g[l] = T::ZERO - sub;
            if q.hess {
                h[l] = T::ZERO;
            }
        }
    }
}

/// Pass 2 over a row of `n` logits (see [`grad_chunk`]): `g[..n]` holds
/// the row's exp(z − m) (see [`exact_terms`]); `z`, `w`, `t` start at the
/// row and may extend past it.
#[inline(always)]
fn write_grad<T: Float, const SOFT: bool>(
    q: &Pass2<T>,
    n: usize,
    z: &[T],
    w: &[T],
    t: &[T],
    g: &mut [T],
    h: &mut [T],
) {
    let zero = [T::ZERO; LANES];
    let mut sh = [T::ZERO; LANES];
    let chunks = n / LANES;
    for k in 0..chunks {
        let r = k * LANES..(k + 1) * LANES;
        let arr = |s: &[T]| -> [T; LANES] { s[r.clone()].try_into().unwrap() };
        let ws = if q.kind != PLAIN { arr(w) } else { zero };
        let ts = if q.kind == PROBS { arr(t) } else { zero };
        let gs: &mut [T; LANES] = (&mut g[r.clone()]).try_into().unwrap();
        if SOFT {
            exact_terms(z[r.clone()].try_into().unwrap(), &[q.max; LANES], gs, LANES);
        }
        let hs: &mut [T; LANES] = if q.hess {
            (&mut h[r.clone()]).try_into().unwrap()
        } else {
            &mut sh
        };
        grad_chunk::<T, SOFT>(q, &ws, &ts, gs, hs);
    }
    let (o, len) = (chunks * LANES, n - chunks * LANES);
    if len > 0 {
        let ws = if q.kind != PLAIN {
            window(w, o, len, T::ZERO)
        } else {
            zero
        };
        let ts = if q.kind == PROBS {
            window(t, o, len, T::ZERO)
        } else {
            zero
        };
        let mut sg = window(g, o, len, T::ZERO);
        if SOFT {
            exact_terms(&window(z, o, len, T::ZERO), &[q.max; LANES], &mut sg, len);
        }
        grad_chunk::<T, SOFT>(q, &ws, &ts, &mut sg, &mut sh);
        store(g, o, &sg, len);
        if q.hess {
            store(h, o, &sh, len);
        }
    }
}

/// One row of logits: its value (when `VAL`), its gradient and second
/// derivative scaled by `scale` into `g`, `h`. `z` starts at the row and
/// extends to the end of the input.
#[inline(always)]
pub(super) fn logits_row<
    T: Float,
    const VAL: bool,
    const GRAD: bool,
    const HESS: bool,
    const KIND: u8,
>(
    p: &Plan<'_, T>,
    i: usize,
    z: &[T],
    scale: f64,
    g: &mut [T],
    h: &mut [T],
) -> f64 {
    let c = p.classes;
    let Some((y, a_y)) = row_label::<T, GRAD, HESS, KIND>(p, i, g, h) else {
        return 0.0;
    };
    let t = if KIND == PROBS {
        &p.probs[i * c..]
    } else {
        &[][..]
    };
    // Index targets know Σ a in closed form; the smoothing terms of their
    // value still need the dense accumulation.
    let dense = KIND == PROBS || (KIND == SMOOTH && VAL);
    let st = stats::<T, GRAD>(z, c, p.cw, t, dense, KIND == PROBS, p.keep, p.spread, g);
    let a_total = if KIND == PROBS {
        st.weight
    } else {
        a_y + p.spread * p.weight_sum
    };
    let mut value = 0.0;
    if VAL {
        if a_total != 0.0 {
            value = a_total * math::ln_f64(st.sum);
        }
        if KIND != PROBS && a_y != 0.0 {
            value += a_y * (st.max.to_f64() - z[y].to_f64());
        }
        value += st.dense;
    }
    if GRAD {
        let q = Pass2 {
            max: st.max,
            kind: KIND,
            hess: HESS,
            coef: T::from_f64(scale * a_total / st.sum),
            ks: T::from_f64(if KIND == SMOOTH {
                scale * p.spread
            } else {
                scale
            }),
            keep: p.keep_t,
            spread: p.spread_t,
            ca: T::from_f64(scale * a_total),
            inv: T::from_f64(1.0 / st.sum),
        };
        // Without A every A·… term is skipped: what is left is −a_c.
        let soft = a_total != 0.0;
        if soft {
            write_grad::<T, true>(&q, c, z, p.cw, t, g, h);
        } else {
            write_grad::<T, false>(&q, c, z, p.cw, t, g, h);
        }
        if KIND != PROBS {
            let a_yy = if KIND == SMOOTH {
                a_y + p.spread * p.class_weight(y)
            } else {
                a_y
            };
            let sub = T::from_f64(scale * a_yy);
            g[y] = if soft {
                q.coef * term(z[y], st.max, term_floor(st.max, true), true) - sub
            } else {
                T::ZERO - sub
            };
        }
    }
    value
}
