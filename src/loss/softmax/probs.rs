//! Rows of probabilities (`from_logits = false`): `−Σ a_c·ln max(p_c, tiny)`
//! and its derivatives, in one pass.

// Lane loops index several fixed-size arrays by lane: that is what lets
// them vectorize.
#![allow(clippy::needless_range_loop)]

use super::*;

/// Scalars of a dense row of probabilities (`from_logits = false`).
#[derive(Clone, Copy)]
struct Dense<T> {
    probs: bool,
    val: bool,
    grad: bool,
    hess: bool,
    keep: f64,
    spread: f64,
    keep_t: T,
    spread_t: T,
    scale: T,
}

/// One chunk of a dense row of probabilities: `−a_c·ln max(p_c, tiny)`
/// into `acc`, `−s·a_c / max(p_c, tiny)` into `g`, `s·a_c / max(p_c, tiny)²`
/// into `h`, terms with `a_c = 0` skipped. Only the first `valid` lanes are
/// accumulated.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn probs_chunk<T: Float>(
    d: &Dense<T>,
    x: &[T; LANES],
    w: &[T; LANES],
    t: &[T; LANES],
    acc: &mut [f64; LANES],
    g: &mut [T; LANES],
    h: &mut [T; LANES],
    valid: usize,
) {
    let tiny = T::MIN_POSITIVE;
    for l in 0..LANES {
        let pm = if x[l] < tiny { tiny } else { x[l] };
        if d.val {
            let a = w[l].to_f64()
                * if d.probs {
                    d.keep * t[l].to_f64() + d.spread
                } else {
                    d.spread
                };
            let term = if a != 0.0 {
                -(a * pm.ln().to_f64())
            } else {
                0.0
            };
            if l < valid {
                acc[l] += term;
            }
        }
        if d.grad {
            let a = if d.probs {
                w[l] * (d.keep_t * t[l] + d.spread_t)
            } else {
                w[l] * d.spread_t
            };
            let q = d.scale * a / pm;
            g[l] = if a != T::ZERO { -q } else { T::ZERO };
            if d.hess {
                h[l] = if a != T::ZERO { q / pm } else { T::ZERO };
            }
        }
    }
}

/// A dense row of `n` probabilities (see [`probs_chunk`]): returns Σ of the
/// value terms. `x`, `w`, `t` start at the row and may extend past it.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn probs_dense<T: Float>(
    d: &Dense<T>,
    x: &[T],
    n: usize,
    w: &[T],
    t: &[T],
    g: &mut [T],
    h: &mut [T],
) -> f64 {
    let mut acc = [0.0; LANES];
    let (mut sg, mut sh) = ([T::ZERO; LANES], [T::ZERO; LANES]);
    let zero = [T::ZERO; LANES];
    let chunks = n / LANES;
    for k in 0..chunks {
        let r = k * LANES..(k + 1) * LANES;
        let arr = |s: &[T]| -> [T; LANES] { s[r.clone()].try_into().unwrap() };
        let ts = if d.probs { arr(t) } else { zero };
        let gs: &mut [T; LANES] = if d.grad {
            (&mut g[r.clone()]).try_into().unwrap()
        } else {
            &mut sg
        };
        let hs: &mut [T; LANES] = if d.hess {
            (&mut h[r.clone()]).try_into().unwrap()
        } else {
            &mut sh
        };
        probs_chunk(d, &arr(x), &arr(w), &ts, &mut acc, gs, hs, LANES);
    }
    let (o, len) = (chunks * LANES, n - chunks * LANES);
    if len > 0 {
        let ts = if d.probs {
            window(t, o, len, T::ZERO)
        } else {
            zero
        };
        let (xs, ws) = (window(x, o, len, T::ONE), window(w, o, len, T::ZERO));
        probs_chunk(d, &xs, &ws, &ts, &mut acc, &mut sg, &mut sh, len);
        if d.grad {
            store(g, o, &sg, len);
        }
        if d.hess {
            store(h, o, &sh, len);
        }
    }
    fold_lanes(acc)
}

/// One row of probabilities (`from_logits = false`); `x` starts at the row
/// and extends to the end of the input.
#[inline(always)]
pub(super) fn probs_row<
    T: Float,
    const VAL: bool,
    const GRAD: bool,
    const HESS: bool,
    const KIND: u8,
>(
    p: &Plan<'_, T>,
    i: usize,
    x: &[T],
    scale: f64,
    g: &mut [T],
    h: &mut [T],
) -> f64 {
    let c = p.classes;
    let tiny = T::MIN_POSITIVE;
    let Some((y, a_y)) = row_label::<T, GRAD, HESS, KIND>(p, i, g, h) else {
        return 0.0;
    };
    let mut value = 0.0;
    if KIND == PLAIN {
        // Only class y has a weight.
        if GRAD {
            g.fill(T::ZERO);
        }
        if HESS {
            h.fill(T::ZERO);
        }
    } else {
        let t = if KIND == PROBS {
            &p.probs[i * c..]
        } else {
            &[][..]
        };
        let d = Dense {
            probs: KIND == PROBS,
            val: VAL,
            grad: GRAD,
            hess: HESS,
            keep: p.keep,
            spread: p.spread,
            keep_t: p.keep_t,
            spread_t: p.spread_t,
            scale: T::from_f64(scale),
        };
        value = probs_dense(&d, x, c, p.cw, t, g, h);
    }
    if KIND != PROBS {
        let pm = if x[y] < tiny { tiny } else { x[y] };
        if VAL && a_y != 0.0 {
            value += -(a_y * pm.ln().to_f64());
        }
        if GRAD {
            let a_yy = if KIND == SMOOTH {
                a_y + p.spread * p.class_weight(y)
            } else {
                a_y
            };
            if a_yy != 0.0 {
                let q = T::from_f64(scale * a_yy) / pm;
                g[y] = -q;
                if HESS {
                    h[y] = q / pm;
                }
            }
        }
    }
    value
}
