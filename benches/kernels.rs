//! Criterion benches of the Rust kernels, through `fastloss::kernel::evaluate`
//! at every SIMD level the machine has: Mse, Huber, LogCosh and Pinball, the
//! reduced value (`Mean`) and value + gradient in one pass, at 10³, 10⁵ and
//! 10⁷ elements, f32 and f64. Throughput is in elements.
//!
//! ```text
//! cargo bench --bench kernels                           # everything (~6 min)
//! cargo bench --bench kernels -- 'mse/float32/10000000' # one group
//! FASTLOSS_NUM_THREADS=1 cargo bench --bench kernels    # single-threaded
//! ```
//!
//! Groups are `loss/dtype/n`, benchmarks `op/level`. The thread count is the
//! library's default (`FASTLOSS_NUM_THREADS`, else the number of cores).

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
    Throughput,
};
use fastloss::kernel::evaluate;
use fastloss::{Float, Huber, Level, LogCosh, Mse, Op, Pinball, Pointwise, Reduction, Weights};

const SIZES: [usize; 3] = [1_000, 100_000, 10_000_000];

/// `(input, target)` uniform in `[−2, 2)`: `d` in `(−4, 4)` takes both
/// branches of Huber (δ = 1) and of log-cosh (series below |d| = 1), and
/// both signs of pinball's residual.
fn data<T: Float>(n: usize, seed: u64) -> (Vec<T>, Vec<T>) {
    let mut s = seed;
    let mut unit = || {
        // SplitMix64.
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
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

/// Every loss of the bench, in element type `T`.
fn bench_type<T: Float>(c: &mut Criterion) {
    let huber = Huber::<T>::new(1.0).unwrap();
    let pinball = Pinball::<T>::new(0.9).unwrap();
    for n in SIZES {
        let (x, y) = data::<T>(n, n as u64);
        let mut grad = vec![T::ZERO; n];
        for name in ["mse", "huber", "log_cosh", "pinball"] {
            let mut group = c.benchmark_group(format!("{name}/{}/{n}", T::NAME));
            group.throughput(Throughput::Elements(n as u64));
            if n >= 1_000_000 {
                // Tens of milliseconds an iteration: few, equal-sized samples.
                group
                    .sampling_mode(SamplingMode::Flat)
                    .sample_size(10)
                    .measurement_time(Duration::from_secs(3));
            }
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

fn kernels(c: &mut Criterion) {
    bench_type::<f32>(c);
    bench_type::<f64>(c);
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
