//! The bits of every loss function on fixed inputs, against the digests kept
//! in `tests/data/digests.txt`: the same at every SIMD level this machine
//! has and on every target. x86-64 runs this file natively, and `.ci/run`
//! runs the aarch64 build under qemu, so that the NEON baseline is held to
//! the bits x86-64 gives.
//!
//! The inputs are those of the other tests (`common::data`), whose draws use
//! only the basic operations and the library's own `exp` and `ln`, never the
//! platform's libm: the same bits on every target. NaNs are hashed as one
//! canonical NaN (the sign a NaN is born with differs between x86-64 and
//! aarch64, and no function promises it).
//!
//! `FASTLOSS_WRITE_DIGESTS=1 cargo test --test digests` writes the file anew:
//! for a change that means to change results, with the reason in its commit.

mod common;

use common::kinds::{Kind, KINDS};
use common::{canonical_bits, data, has_specials, weights, Elem};
use fastloss::{CrossEntropy, Level, Op, Reduction, Targets, Weights};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Sizes past a whole number of 32-lane chunks and of 4096-element blocks.
const SIZES: [usize; 2] = [45, 4099];

/// FNV-1a over the canonical bits of each output.
#[derive(Clone, Copy)]
struct Digest(u64);

impl Digest {
    fn new() -> Self {
        Digest(0xcbf2_9ce4_8422_2325)
    }

    fn add<T: Elem>(&mut self, values: &[T]) {
        for &v in values {
            for byte in canonical_bits(v).to_le_bytes() {
                self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
}

/// Every call of one elementwise loss in `T` at `level`, one digest each.
fn pointwise<T: Elem>(level: Level, kind: Kind, out: &mut BTreeMap<String, u64>) {
    let loss = common::loss::<T>(kind, 7);
    let sets = [false, true]
        .into_iter()
        .filter(|&s| !s || has_specials(kind.domain()));
    for (n, specials) in SIZES
        .into_iter()
        .flat_map(|n| sets.clone().map(move |s| (n, s)))
    {
        let (x, y) = data::<T>(kind, n * kind.columns().max(1), 11, specials);
        let w = weights::<T>(x.len(), 13, false);
        let call = |weighted: bool, red: Reduction, op: Op<'_, T>| -> T {
            let ws = if weighted {
                Weights::Each(&w)
            } else {
                Weights::None
            };
            let v = loss.eval(level, &x, &y, ws, red, op);
            v.unwrap_or_else(|e| panic!("{kind:?} {} n={n} {red:?}: {e}", T::NAME))
        };
        let mut calls: Vec<(String, Vec<T>)> = Vec::new();
        for (weighted, tag) in [(false, ""), (true, " weighted")] {
            for red in [Reduction::Mean, Reduction::Sum] {
                let v = call(weighted, red, Op::Value);
                calls.push((format!("value {red:?}{tag}"), vec![v]));
                let mut g = vec![T::ZERO; x.len()];
                let v = call(weighted, red, Op::ValueGrad(&mut g));
                g.push(v);
                calls.push((format!("value_and_grad {red:?}{tag}"), g));
                let (mut g, mut h) = (vec![T::ZERO; x.len()], vec![T::ZERO; x.len()]);
                call(weighted, red, Op::GradHess(&mut g, &mut h));
                g.extend(h);
                calls.push((format!("grad_hess {red:?}{tag}"), g));
            }
            let (mut v, mut g) = (vec![T::ZERO; x.len()], vec![T::ZERO; x.len()]);
            call(weighted, Reduction::None, Op::ValueEachGrad(&mut v, &mut g));
            v.extend(g);
            calls.push((format!("value_and_grad None{tag}"), v));
        }
        for (call, values) in calls {
            let mut d = Digest::new();
            d.add(&values);
            let set = if specials { " specials" } else { "" };
            out.insert(format!("{kind:?} {} n={n}{set} {call}", T::NAME), d.0);
        }
    }
}

/// The softmax cross-entropy's calls in `T` at `level`: hard labels (one
/// ignored) and soft ones, plain and smoothed.
fn cross_entropy<T: Elem>(level: Level, out: &mut BTreeMap<String, u64>) {
    for (rows, classes) in [(3, 45), (150, 7)] {
        let n = rows * classes;
        let (x, _) = data::<T>(Kind::Logits(0), n, 17, false);
        let (p, _) = data::<T>(Kind::Bce, n, 19, false);
        let mut rng = common::Rng(23);
        let mut labels: Vec<i64> = (0..rows)
            .map(|_| rng.below(classes as u64) as i64)
            .collect();
        labels[0] = -100;
        let w = weights::<T>(rows, 29, false);
        for smoothing in [0.0, 0.1] {
            let soft = CrossEntropy::<T>::new()
                .with_label_smoothing(smoothing)
                .unwrap();
            let hard = soft.clone().with_ignore_index(-100);
            for (tag, ce, target) in [
                ("index", &hard, Targets::Index(&labels)),
                ("probs", &soft, Targets::Probs(&p)),
            ] {
                for (weighted, ws) in [("", Weights::None), (" weighted", Weights::Rows(&w))] {
                    let run = |reduction, op| {
                        ce.evaluate(level, &x, target, classes, ws, reduction, op)
                            .unwrap_or_else(|e| panic!("cross_entropy {tag}: {e}"))
                    };
                    let mut g = vec![T::ZERO; n];
                    let v = run(Reduction::Mean, Op::ValueGrad(&mut g));
                    let (mut gh, mut h) = (vec![T::ZERO; n], vec![T::ZERO; n]);
                    run(Reduction::Sum, Op::GradHess(&mut gh, &mut h));
                    let mut each = vec![T::ZERO; rows];
                    run(Reduction::None, Op::ValueEach(&mut each));
                    let mut d = Digest::new();
                    for part in [&[v][..], &g, &gh, &h, &each] {
                        d.add(part);
                    }
                    let key = format!(
                        "cross_entropy {} {rows}x{classes} {tag} smoothing={smoothing}{weighted}",
                        T::NAME
                    );
                    out.insert(key, d.0);
                }
            }
        }
    }
}

/// Every digest at `level`, as `key digest` lines.
fn digests(level: Level) -> String {
    let mut out = BTreeMap::new();
    for kind in KINDS {
        pointwise::<f32>(level, kind, &mut out);
        pointwise::<f64>(level, kind, &mut out);
    }
    cross_entropy::<f32>(level, &mut out);
    cross_entropy::<f64>(level, &mut out);
    let mut text = String::new();
    for (key, d) in out {
        writeln!(text, "{key} {d:016x}").unwrap();
    }
    text
}

#[test]
fn every_level_gives_the_kept_bits() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/digests.txt");
    let levels = Level::available();
    let ours = digests(levels[0]);
    if std::env::var_os("FASTLOSS_WRITE_DIGESTS").is_some() {
        std::fs::write(path, &ours).unwrap();
    }
    let kept = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e} (FASTLOSS_WRITE_DIGESTS=1 writes it)"));
    let differ = |got: &str| -> Vec<String> {
        let kept: BTreeMap<&str, &str> = kept.lines().filter_map(|l| l.rsplit_once(' ')).collect();
        let got: BTreeMap<&str, &str> = got.lines().filter_map(|l| l.rsplit_once(' ')).collect();
        let mut keys: Vec<&str> = kept.keys().chain(got.keys()).copied().collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
            .filter(|k| kept.get(k) != got.get(k))
            .map(str::to_owned)
            .collect()
    };
    for level in levels {
        let got = if level == Level::available()[0] {
            ours.clone()
        } else {
            digests(level)
        };
        let d = differ(&got);
        assert!(
            d.is_empty(),
            "{level:?} on {}: {} of {} digests differ from tests/data/digests.txt, first {:?}",
            std::env::consts::ARCH,
            d.len(),
            kept.lines().count(),
            &d[..d.len().min(8)]
        );
    }
}
