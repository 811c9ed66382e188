//! Criterion benches of the Rust kernels, through `fastloss::kernel::evaluate`
//! at every SIMD level the machine has: Mse, Huber, LogCosh and Pinball, the
//! reduced value (`Mean`) and value + gradient in one pass, at 10³, 10⁵ and
//! 10⁷ elements, f32 and f64; and BinaryCrossEntropyWithLogits with eight
//! `pos_weight` columns, value + gradient and the gradient alone at 65536
//! and 10⁶ elements, for hard labels, label smoothing and its worst case:
//! fractional targets with the logits at the gradient's zero. Throughput is
//! in elements.
//!
//! ```text
//! cargo bench --bench kernels                           # everything (~10 min)
//! cargo bench --bench kernels -- 'mse/float32/10000000' # one group
//! cargo bench --bench kernels -- bce_logits             # hard labels against the worst case
//! FASTLOSS_NUM_THREADS=1 cargo bench --bench kernels    # single-threaded
//! ```
//!
//! Groups are `loss/dtype/n`, benchmarks `op/level` (`op/labels/level` for
//! `bce_logits`). The thread count is the library's default
//! (`FASTLOSS_NUM_THREADS`, else the number of cores).

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
    Throughput,
};
use fastloss::kernel::evaluate;
use fastloss::{
    BinaryCrossEntropyWithLogits, Float, Huber, Level, LogCosh, Mse, Op, Pinball, Pointwise,
    Reduction, Weights,
};

const SIZES: [usize; 3] = [1_000, 100_000, 10_000_000];

/// Uniform draws in `[0, 1)` (SplitMix64).
fn uniform(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed;
    move || {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `(input, target)` uniform in `[−2, 2)`: `d` in `(−4, 4)` takes both
/// branches of Huber (δ = 1) and of log-cosh (series below |d| = 1), and
/// both signs of pinball's residual.
fn data<T: Float>(n: usize, seed: u64) -> (Vec<T>, Vec<T>) {
    let mut unit = uniform(seed);
    let mut gen = || (0..n).map(|_| T::from_f64(4.0 * unit() - 2.0)).collect();
    let x = gen();
    (x, gen())
}

/// One loss at one size: value and value + gradient at every level.
fn bench_loss<T: Float, L: Pointwise<T>>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    loss: &L,
    x: &[T],
    y: &[T],
    grad: &mut [T],
) {
    for level in Level::available() {
        let id = BenchmarkId::new("value", level.name());
        group.bench_with_input(id, &level, |b, &level| {
            b.iter(|| {
                let (x, y) = (black_box(x), black_box(y));
                evaluate(level, loss, x, y, Weights::None, Reduction::Mean, Op::Value).unwrap()
            })
        });
        let id = BenchmarkId::new("value_grad", level.name());
        group.bench_with_input(id, &level, |b, &level| {
            b.iter(|| {
                let (x, y) = (black_box(x), black_box(y));
                let op = Op::ValueGrad(&mut *grad);
                let v = evaluate(level, loss, x, y, Weights::None, Reduction::Mean, op).unwrap();
                black_box(&mut *grad);
                v
            })
        });
    }
}

/// A group of `n` elements a call, counted as throughput.
fn sized_group(c: &mut Criterion, name: String, n: usize) -> BenchmarkGroup<'_, WallTime> {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(n as u64));
    if n >= 1_000_000 {
        // Tens of milliseconds an iteration: few, equal-sized samples.
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .measurement_time(Duration::from_secs(3));
    }
    group
}

/// Every loss of the bench, in element type `T`.
fn bench_type<T: Float>(c: &mut Criterion) {
    let huber = Huber::<T>::new(1.0).unwrap();
    let pinball = Pinball::<T>::new(0.9).unwrap();
    for n in SIZES {
        let (x, y) = data::<T>(n, n as u64);
        let mut grad = vec![T::ZERO; n];
        for name in ["mse", "huber", "log_cosh", "pinball"] {
            let mut group = sized_group(c, format!("{name}/{}/{n}", T::NAME), n);
            match name {
                "mse" => bench_loss(&mut group, &Mse, &x, &y, &mut grad),
                "huber" => bench_loss(&mut group, &huber, &x, &y, &mut grad),
                "log_cosh" => bench_loss(&mut group, &LogCosh, &x, &y, &mut grad),
                _ => bench_loss(&mut group, &pinball, &x, &y, &mut grad),
            }
            group.finish();
        }
    }
}

/// `pos_weight` of the logits benches: eight columns.
const POS_WEIGHT: [f64; 8] = [1.0, 3.0, 0.5, 0.25, 2.0, 7.0, 0.1, 1.5];

/// `(logits, targets)` of the logits benches, `pos_weight` cycling over
/// [`POS_WEIGHT`]: `hard`, targets 0 or 1 and the logits of `zero`;
/// `smooth`, label smoothing (targets 0.05 or 0.95) and logits in (−6, 6),
/// about a fifth of them close enough to the gradient's zero for it to
/// cancel; `zero`, targets uniform in [0.02, 0.98] and each logit the float nearest
/// the gradient's zero `x* = ln(pw·t/(1−t))` (computed in f64: for f64
/// within an ulp of it), where its two terms cancel hardest and the slower
/// gradient paths take every element.
fn logits_data<T: Float>(labels: &str, n: usize) -> (Vec<T>, Vec<T>) {
    let mut unit = uniform(7);
    let (mut x, mut y) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let pw = T::from_f64(POS_WEIGHT[i % POS_WEIGHT.len()]).to_f64();
        let t = T::from_f64(0.02 + 0.96 * unit()).to_f64();
        let zero = T::from_f64((pw * t / (1.0 - t)).ln());
        let coin = unit() < 0.5;
        let (xi, ti) = match labels {
            "hard" => (zero, if coin { 0.0 } else { 1.0 }),
            "smooth" => {
                let normal = unit() + unit() + unit() + unit() - 2.0;
                (T::from_f64(3.0 * normal), if coin { 0.05 } else { 0.95 })
            }
            _ => (zero, t),
        };
        x.push(xi);
        y.push(T::from_f64(ti));
    }
    (x, y)
}

/// BinaryCrossEntropyWithLogits: value + gradient and the gradient alone,
/// for each kind of labels, at every level.
fn bench_logits<T: Float>(c: &mut Criterion) {
    let pw: Vec<T> = POS_WEIGHT.iter().map(|&p| T::from_f64(p)).collect();
    let loss = BinaryCrossEntropyWithLogits::new(Some(&pw)).unwrap();
    for n in [65_536, 1_000_000] {
        let mut group = sized_group(c, format!("bce_logits/{}/{n}", T::NAME), n);
        let mut grad = vec![T::ZERO; n];
        for labels in ["hard", "smooth", "zero"] {
            let (x, y) = logits_data::<T>(labels, n);
            for level in Level::available() {
                for op in ["value_grad", "grad"] {
                    let id = BenchmarkId::new(format!("{op}/{labels}"), level.name());
                    group.bench_with_input(id, &level, |b, &level| {
                        b.iter(|| {
                            let (x, y) = (black_box(&x[..]), black_box(&y[..]));
                            let op = if op == "grad" {
                                Op::Grad(&mut grad)
                            } else {
                                Op::ValueGrad(&mut grad)
                            };
                            let v =
                                evaluate(level, &loss, x, y, Weights::None, Reduction::Mean, op)
                                    .unwrap();
                            black_box(&mut grad);
                            v
                        })
                    });
                }
            }
        }
        group.finish();
    }
}

fn kernels(c: &mut Criterion) {
    bench_type::<f32>(c);
    bench_type::<f64>(c);
    bench_logits::<f32>(c);
    bench_logits::<f64>(c);
}

criterion_group! {
    name = benches;
    // Two cores: modest warm-up and measurement, enough for ±2 %.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = kernels
}
criterion_main!(benches);
