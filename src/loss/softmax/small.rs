//! Rows of at most [`SMALL`] logits, [`LANES`] rows at a time, one row per
//! lane.

// Lane loops index several fixed-size arrays by lane: that is what lets
// them vectorize.
#![allow(clippy::needless_range_loop)]

use super::*;

/// Rows of at most this many logits go through [`small_rows`].
pub(super) const SMALL: usize = 32;

/// Rows of at most [`SMALL`] logits, [`LANES`] rows at a time, one row per
/// lane: each group of rows is read once, transposed into registers, and
/// processed there in two steps (the exact maximum, then `exp(z − m)`), so
/// no rescaling is needed and `value_and_grad` takes one exp per logit.
/// Same rules as the long rows (−inf counted as `T::MIN`, +inf or NaN
/// making a row NaN, zero-weight terms skipped).
#[inline(always)]
pub(super) fn small_rows<
    T: Float,
    const VAL: bool,
    const GRAD: bool,
    const HESS: bool,
    const KIND: u8,
>(
    p: &Plan<'_, T>,
    rows: Range<usize>,
    v: &mut [T],
    g: &mut [T],
    h: &mut [T],
) -> f64 {
    let c = p.classes;
    let lowest = T::MIN;
    let dense = KIND == PROBS || (KIND == SMOOTH && VAL);
    let mut lane_sum = [0.0; LANES];
    // The group's transposed logits (zt[k][l] = logit k of row r0 + l; tt:
    // target probabilities), terms, gradient and second derivative: set up
    // once, each group overwrites what it reads (lanes past a short last
    // group keep the previous group's numbers, computed but never stored).
    let mut zt = [[T::ZERO; LANES]; SMALL];
    let mut tt = [[T::ZERO; LANES]; SMALL];
    let mut e = [[T::ZERO; LANES]; SMALL];
    let mut gt = [[T::ZERO; LANES]; SMALL];
    let mut ht = [[T::ZERO; LANES]; SMALL];
    // The scale of an unweighted row (exactly what 1/denom gives per row).
    let unit = if p.mean { 1.0 / p.denom } else { 1.0 };
    let mut r0 = rows.start;
    while r0 < rows.end {
        let n = (rows.end - r0).min(LANES);
        let base = r0 - rows.start;
        transpose::rows(p.level, &p.x[r0 * c..], c, n, &mut zt);
        if KIND == PROBS {
            transpose::rows(p.level, &p.probs[r0 * c..], c, n, &mut tt);
        }
        // Per row: weight, scale, class index y, (1−ε)·w_y, the smoothing
        // weight ε/C (0 for an ignored row) and z_y.
        let mut sw = [0.0; LANES];
        let mut scale = [0.0; LANES];
        let mut y = [u32::MAX; LANES];
        let mut a_y = [0.0; LANES];
        let mut sp = [0.0; LANES];
        let mut zy = [0.0; LANES];
        for l in 0..n {
            let i = r0 + l;
            (sw[l], scale[l]) = if p.per == 0 {
                (1.0, unit)
            } else {
                let w = p.row_weight(i);
                (w, if p.mean { w / p.denom } else { w })
            };
            if KIND == PROBS {
                sp[l] = p.spread;
            } else if let Some((yy, ay)) = label(p, i) {
                y[l] = yy as u32;
                a_y[l] = ay;
                sp[l] = p.spread;
                zy[l] = zt[yy][l].to_f64();
            }
        }
        // From T::MIN up: −inf and NaN never win (see `max_round`).
        let mut m = [lowest; LANES];
        for zk in &zt[..c] {
            for l in 0..LANES {
                m[l] = if zk[l] > m[l] { zk[l] } else { m[l] };
            }
        }
        // The terms in T at its full width, by exp_term (see `term`), then
        // their sums in f64.
        for (zk, ek) in zt[..c].iter().zip(e.iter_mut()) {
            // term_floor stays in this loop: in a lane loop of its own it
            // was slower, as LLVM split the maximum's loop into halves
            // (BENCHMARKS.md has the figures).
            for l in 0..LANES {
                ek[l] = term(zk[l], m[l], term_floor(m[l], false), false);
            }
            // The gradient keeps the terms: exact where exp_term may have
            // clamped (lanes past `n` are computed, never stored).
            if GRAD {
                exact_terms(zk, &m, ek, LANES);
            }
        }
        let mut s = [0.0; LANES];
        for ek in &e[..c] {
            for l in 0..LANES {
                s[l] += ek[l].to_f64();
            }
        }
        for l in 0..LANES {
            s[l] = if m[l] == T::INFINITY { f64::NAN } else { s[l] };
        }
        // Σ a and, when the value needs it, Σ a·(m − z) of the dense weights.
        let mut a_tot = [0.0; LANES];
        let mut dsum = [0.0; LANES];
        if dense {
            for k in 0..c {
                let wk = p.cw[k].to_f64();
                for l in 0..LANES {
                    let a = wk
                        * if KIND == PROBS {
                            p.keep * tt[k][l].to_f64() + sp[l]
                        } else {
                            sp[l]
                        };
                    dsum[l] += if a != 0.0 {
                        a * (m[l].to_f64() - zt[k][l].to_f64())
                    } else {
                        0.0
                    };
                    a_tot[l] += a;
                }
            }
        }
        if KIND != PROBS {
            for l in 0..LANES {
                a_tot[l] = a_y[l] + sp[l] * p.weight_sum;
            }
        }
        if VAL {
            let mut val = [0.0; LANES];
            for l in 0..LANES {
                let lse = if a_tot[l] != 0.0 {
                    a_tot[l] * math::ln_f64(s[l])
                } else {
                    0.0
                };
                let own = if KIND != PROBS && a_y[l] != 0.0 {
                    a_y[l] * (m[l].to_f64() - zy[l])
                } else {
                    0.0
                };
                val[l] = lse + own + if dense { dsum[l] } else { 0.0 };
            }
            for l in 0..LANES {
                let wv = sw[l] * val[l];
                if l < n {
                    if p.wants.store {
                        v[base + l] = T::from_f64(wv);
                    } else {
                        lane_sum[l] += wv;
                    }
                }
            }
        }
        if GRAD {
            let mut coef = [T::ZERO; LANES];
            let mut ca = [T::ZERO; LANES];
            let mut inv = [T::ZERO; LANES];
            let mut ks = [T::ZERO; LANES];
            let mut suby = [T::ZERO; LANES];
            let mut soft = [T::ZERO; LANES];
            for l in 0..LANES {
                // One division per row: A·scale/s as (A·scale)·(1/s).
                let r = 1.0 / s[l];
                coef[l] = T::from_f64(scale[l] * a_tot[l] * r);
                ca[l] = T::from_f64(scale[l] * a_tot[l]);
                inv[l] = T::from_f64(r);
                ks[l] = T::from_f64(if KIND == SMOOTH {
                    scale[l] * sp[l]
                } else {
                    scale[l]
                });
                suby[l] = T::from_f64(scale[l] * a_y[l]);
                soft[l] = if a_tot[l] != 0.0 { T::ONE } else { T::ZERO };
            }
            for k in 0..c {
                let wk = p.cw[k];
                for l in 0..LANES {
                    let mut sub = match KIND {
                        PLAIN => T::ZERO,
                        SMOOTH => ks[l] * wk,
                        _ => ks[l] * wk * (p.keep_t * tt[k][l] + p.spread_t),
                    };
                    if KIND != PROBS && y[l] == k as u32 {
                        sub = sub + suby[l];
                    }
                    // A = 0: the A·… terms are skipped (NaN logits included).
                    let on = soft[l] != T::ZERO;
                    let ek = e[k][l];
                    gt[k][l] = if on { coef[l] * ek } else { T::ZERO } - sub;
                    if HESS {
                        let q = ek * inv[l];
                        ht[k][l] = if on {
                            ca[l] * q * (T::ONE - q)
                        } else {
                            T::ZERO
                        };
                    }
                }
            }
            transpose::unrows(p.level, &gt, c, n, &mut g[base * c..]);
            if HESS {
                transpose::unrows(p.level, &ht, c, n, &mut h[base * c..]);
            }
        }
        r0 += n;
    }
    fold_lanes(lane_sum)
}
