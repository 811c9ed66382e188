//! Scalar `f64` references: the formulas as written, a textbook two-pass
//! log-sum-exp with libm and compensated sums, one row at a time. For tests.

/// Σ v, compensated (Neumaier), IEEE for non-finite terms.
fn sum(v: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut comp) = (0.0f64, 0.0f64);
    for x in v {
        let t = s + x;
        comp += if s.abs() >= x.abs() {
            (s - t) + x
        } else {
            (x - t) + s
        };
        s = t;
    }
    if s.is_finite() {
        s + comp
    } else {
        s
    }
}

/// The target weights `a_c` of a row with class index `label`
/// (all zero when it is `ignore_index`).
pub fn index_weights(
    classes: usize,
    label: i64,
    class_weight: Option<&[f64]>,
    ignore_index: Option<i64>,
    epsilon: f64,
) -> Vec<f64> {
    let w = |c: usize| class_weight.map_or(1.0, |w| w[c]);
    if ignore_index == Some(label) {
        return vec![0.0; classes];
    }
    (0..classes)
        .map(|c| {
            let one = if c as i64 == label {
                1.0 - epsilon
            } else {
                0.0
            };
            one * w(label as usize) + epsilon / classes as f64 * w(c)
        })
        .collect()
}

/// The target weights `a_c = w_c·((1−ε)·t_c + ε/C)` of a row of
/// probabilities `t`.
pub fn prob_weights(t: &[f64], class_weight: Option<&[f64]>, epsilon: f64) -> Vec<f64> {
    let c = t.len();
    (0..c)
        .map(|k| class_weight.map_or(1.0, |w| w[k]) * ((1.0 - epsilon) * t[k] + epsilon / c as f64))
        .collect()
}

/// `(value, gradient, second derivative)` of one row of logits `z`
/// (or probabilities when `!from_logits`, clamped below at `tiny`)
/// with target weights `a`, unscaled.
pub fn cross_entropy_row_scalar(
    z: &[f64],
    a: &[f64],
    from_logits: bool,
    tiny: f64,
) -> (f64, Vec<f64>, Vec<f64>) {
    let big_a = sum(a.iter().copied());
    if !from_logits {
        let mut terms = vec![0.0; z.len()];
        let mut g = vec![0.0; z.len()];
        let mut h = vec![0.0; z.len()];
        for c in 0..z.len() {
            if a[c] != 0.0 {
                let p = if z[c] < tiny { tiny } else { z[c] };
                terms[c] = -a[c] * p.ln();
                g[c] = -a[c] / p;
                h[c] = a[c] / p / p;
            }
        }
        return (sum(terms), g, h);
    }
    let zc: Vec<f64> = z
        .iter()
        .map(|&v| if v < f64::MIN { f64::MIN } else { v })
        .collect();
    let bad = z.iter().any(|v| v.is_nan() || *v == f64::INFINITY);
    let m = zc.iter().fold(f64::MIN, |m, &v| if v > m { v } else { m });
    let s = sum(zc.iter().map(|&v| (v - m).exp()));
    let lse = if bad { f64::NAN } else { m + s.ln() };
    let value = sum((0..z.len())
        .filter(|&c| a[c] != 0.0)
        .map(|c| a[c] * (lse - z[c])));
    if big_a == 0.0 {
        let g = a.iter().map(|&v| -v).collect();
        return (value, g, vec![0.0; z.len()]);
    }
    let p: Vec<f64> = zc
        .iter()
        .map(|&v| if bad { f64::NAN } else { (v - m).exp() / s })
        .collect();
    let g = (0..z.len()).map(|c| big_a * p[c] - a[c]).collect();
    let h = p.iter().map(|&p| big_a * p * (1.0 - p)).collect();
    (value, g, h)
}
