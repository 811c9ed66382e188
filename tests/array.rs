//! The `ndarray` API: every loss, every form, on views laid out every way
//! (Fortran order, reversed, every other element, axes permuted, broadcast),
//! must give the bits of the slice API on contiguous copies, write nothing
//! outside its outputs' elements, and reject wrong shapes before writing.

#![cfg(feature = "ndarray")]

mod common;

use common::kinds::{families, Kind, Visit};
use common::{data, loss, same, weights, Elem, Rng};
use fastloss::{
    set_num_threads, ArrayTargets, CrossEntropy, LossError, Pointwise, PointwiseArray,
    PointwiseLoss, Reduction, Targets, Weights,
};
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, ShapeBuilder, Slice};

/// The layouts an array is tried in.
const LAYOUTS: [&str; 5] = ["c", "f", "reversed", "every other", "permuted"];

/// An array of `shape` whose elements in C order are `v`, laid out in
/// memory as `layout` says: every layout but "c" is strided.
fn laid_out<T: Copy + Default>(v: &[T], shape: &[usize], layout: &str) -> ArrayD<T> {
    let c = ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap();
    let nd = shape.len();
    let mut a = match layout {
        "c" => return c,
        "f" => ArrayD::from_elem(IxDyn(shape).f(), T::default()),
        "reversed" => {
            let mut a = ArrayD::from_elem(IxDyn(shape), T::default());
            for k in 0..nd {
                a.invert_axis(Axis(k));
            }
            a
        }
        "every other" if nd > 0 => {
            let mut wide = shape.to_vec();
            wide[nd - 1] *= 2;
            let mut a = ArrayD::from_elem(IxDyn(&wide), T::default());
            a.slice_axis_inplace(Axis(nd - 1), Slice::new(0, None, 2));
            a
        }
        "permuted" if nd > 1 => {
            // Stored with the axes rotated, read back in the given order.
            let rotated: Vec<usize> = (0..nd).map(|k| shape[(k + 1) % nd]).collect();
            let inverse: Vec<usize> = (0..nd).map(|k| (k + nd - 1) % nd).collect();
            ArrayD::from_elem(IxDyn(&rotated), T::default()).permuted_axes(IxDyn(&inverse))
        }
        _ => ArrayD::from_elem(IxDyn(shape).f(), T::default()),
    };
    assert_eq!(a.shape(), shape);
    a.assign(&c);
    a
}

/// The bits of `a`'s elements, C order.
fn bits<T: Elem>(a: &ArrayD<T>) -> Vec<T> {
    a.iter().copied().collect()
}

fn assert_same<T: Elem>(got: &[T], want: &[T], ctx: &str) {
    assert_eq!(got.len(), want.len(), "{ctx}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(same(g, w), "{ctx}: element {i}: {g:?}, want {w:?}");
    }
}

/// Every form of one loss, through both APIs.
struct Forms<'a, T> {
    x: &'a [T],
    y: &'a [T],
    w: Option<&'a [T]>,
    shape: &'a [usize],
    layout: &'a str,
    ctx: String,
}

impl<T: Elem> Visit<T> for Forms<'_, T> {
    type Out = ();
    fn visit<L: Pointwise<T>>(self, loss: &L) {
        let Forms {
            x,
            y,
            w,
            shape,
            layout,
            ctx,
        } = self;
        let n = x.len();
        let (xa, ya) = (laid_out(x, shape, layout), laid_out(y, shape, "f"));
        let wa = w.map(|w| laid_out(w, shape, "reversed"));
        let ws = w.map_or(Weights::None, Weights::Each);
        let wv = || wa.as_ref().map(|w| w.view());
        // Outputs start as a sentinel and are laid out another way again.
        let out = |layout| laid_out(&vec![T::from_f64(-7.0); n], shape, layout);
        for r in [Reduction::Mean, Reduction::Sum] {
            let want = loss.value(x, y, r, ws);
            let got = loss.value_array(xa.view(), ya.view(), r, wv());
            match (want, got) {
                (Ok(a), Ok(b)) => assert!(same(a, b), "{ctx} {r:?}: {b:?}, want {a:?}"),
                (a, b) => assert_eq!(a, b, "{ctx} {r:?}"),
            }

            let (mut g, mut h) = (vec![T::ZERO; n], vec![T::ZERO; n]);
            let want = loss.value_and_grad_into(x, y, r, ws, &mut g);
            let mut ga = out("every other");
            let got = loss.value_and_grad_array(xa.view(), ya.view(), r, wv(), ga.view_mut());
            assert_eq!(
                want.map(|v| v.to_f64().to_bits()),
                got.map(|v| v.to_f64().to_bits())
            );
            assert_same(&bits(&ga), &g, &format!("{ctx} {r:?} value_and_grad"));

            let mut ga = out("permuted");
            loss.grad_into(x, y, r, ws, &mut g).unwrap();
            loss.grad_array(xa.view(), ya.view(), r, wv(), ga.view_mut())
                .unwrap();
            assert_same(&bits(&ga), &g, &format!("{ctx} {r:?} grad"));

            let (mut ga, mut ha) = (out("reversed"), out("c"));
            loss.grad_hess_into(x, y, r, ws, &mut g, &mut h).unwrap();
            loss.grad_hess_array(xa.view(), ya.view(), r, wv(), ga.view_mut(), ha.view_mut())
                .unwrap();
            assert_same(&bits(&ga), &g, &format!("{ctx} {r:?} grad_hess g"));
            assert_same(&bits(&ha), &h, &format!("{ctx} {r:?} grad_hess h"));
        }
        let mut v = vec![T::ZERO; n];
        loss.value_each_into(x, y, ws, &mut v).unwrap();
        let mut va = out("f");
        loss.value_each_array(xa.view(), ya.view(), wv(), va.view_mut())
            .unwrap();
        assert_same(&bits(&va), &v, &format!("{ctx} value_each"));
    }
}

/// Shapes whose sizes are multiples of 21, so that the `pos_weight` periods
/// (3 and 7) divide them: tails, several blocks, 1 to 3 axes, and none.
const SHAPES: [&[usize]; 5] = [&[21], &[4116], &[5, 21], &[2, 6, 343], &[0, 3]];

/// One kind of each family, and `pos_weight` with a period.
fn check_every_family<T: Elem>() {
    for kind in families().into_iter().chain([Kind::Logits(3)]) {
        for (s, shape) in SHAPES.iter().enumerate() {
            let n = shape.iter().product();
            let (x, y) = data::<T>(kind, n, 11 + s as u64, false);
            let w = weights::<T>(n, 5, false);
            for (l, layout) in LAYOUTS.into_iter().enumerate() {
                // Weighted in every other layout (the weights themselves reversed).
                for w in [None, Some(&w[..])].into_iter().skip(l % 2) {
                    let ctx = format!("{kind:?} {shape:?} {layout} weighted {}", w.is_some());
                    let forms = Forms {
                        x: &x,
                        y: &y,
                        w,
                        shape,
                        layout,
                        ctx,
                    };
                    loss::<T>(kind, 3).visit(forms).unwrap();
                }
            }
        }
    }
}

#[test]
fn every_family_every_layout_has_the_bits_of_slices() {
    check_every_family::<f32>();
    check_every_family::<f64>();
}

#[test]
fn a_zero_dimensional_array_is_one_element() {
    let huber = fastloss::Huber::<f64>::new(1.0).unwrap();
    let (x, y) = (ndarray::arr0(3.0), ndarray::arr0(0.5));
    let v = huber.value_array(x.view(), y.view(), Reduction::Mean, None);
    assert_eq!(v, Ok(2.0));
}

/// A target and weights that repeat along an axis, as broadcast views
/// (stride 0), are the repeated arrays.
#[test]
fn broadcast_targets_and_weights_are_read_in_place() {
    let kind = Kind::Poisson;
    let (rows, cols) = (300, 17);
    let (x, y) = data::<f64>(kind, rows * cols, 2, false);
    let w = weights::<f64>(rows, 9, false);
    let xa = laid_out(&x, &[rows, cols], "f");
    let yrow = ArrayD::from_shape_vec(IxDyn(&[cols]), y[..cols].to_vec()).unwrap();
    let wcol = ArrayD::from_shape_vec(IxDyn(&[rows, 1]), w.clone()).unwrap();
    let yb = yrow.broadcast(IxDyn(&[rows, cols])).unwrap();
    let wb = wcol.broadcast(IxDyn(&[rows, cols])).unwrap();
    let ys: Vec<f64> = yb.iter().copied().collect();
    let ws: Vec<f64> = wb.iter().copied().collect();
    let loss = fastloss::Poisson;
    let mut g = vec![0.0; rows * cols];
    let want = loss.value_and_grad_into(&x, &ys, Reduction::Mean, Weights::Each(&ws), &mut g);
    let mut ga = ArrayD::zeros(IxDyn(&[rows, cols]));
    let got = loss.value_and_grad_array(xa.view(), yb, Reduction::Mean, Some(wb), ga.view_mut());
    assert_eq!(want.unwrap().to_bits(), got.unwrap().to_bits());
    assert_same(&bits(&ga), &g, "broadcast");
}

/// Strided outputs split between threads: each subtree writes its own
/// elements.
#[test]
fn strided_outputs_on_two_threads() {
    let n = (1 << 17) + 5;
    let (x, y) = data::<f32>(Kind::LogCosh, n, 4, false);
    let loss = fastloss::LogCosh;
    let (mut g, mut h) = (vec![0.0; n], vec![0.0; n]);
    loss.grad_hess_into(&x, &y, Reduction::Mean, Weights::None, &mut g, &mut h)
        .unwrap();
    let before = fastloss::num_threads();
    set_num_threads(2).unwrap();
    let xa = laid_out(&x, &[n], "reversed");
    let ya = laid_out(&y, &[n], "every other");
    let mut ga = laid_out(&vec![0.0f32; n], &[n], "every other");
    let mut ha = laid_out(&vec![0.0f32; n], &[n], "reversed");
    let r = loss.grad_hess_array(
        xa.view(),
        ya.view(),
        Reduction::Mean,
        None,
        ga.view_mut(),
        ha.view_mut(),
    );
    set_num_threads(before).unwrap();
    r.unwrap();
    assert_same(&bits(&ga), &g, "threads g");
    assert_same(&bits(&ha), &h, "threads h");
}

#[test]
fn errors_name_the_argument_and_write_nothing() {
    let loss = fastloss::Poisson;
    let x = ArrayD::<f64>::zeros(IxDyn(&[4, 5]));
    let y = ArrayD::<f64>::ones(IxDyn(&[5, 4]));
    let mut g = ArrayD::from_elem(IxDyn(&[4, 5]), -7.0);
    let e = loss.grad_array(x.view(), y.view(), Reduction::Sum, None, g.view_mut());
    assert_eq!(
        e,
        Err(LossError::ShapeMismatch {
            name: "target",
            expected: vec![4, 5],
            got: vec![5, 4]
        })
    );
    let y = y.reversed_axes();
    let mut small = ArrayD::from_elem(IxDyn(&[4, 4]), -7.0);
    let e = loss.grad_array(x.view(), y.view(), Reduction::Sum, None, small.view_mut());
    assert!(matches!(
        e,
        Err(LossError::ShapeMismatch {
            name: "grad out",
            ..
        })
    ));
    // A negative count at C-order index 13 of a Fortran-order target.
    let mut bad = ArrayD::ones(IxDyn(&[4, 5]).f());
    bad[[2, 3]] = -1.0;
    let e = loss.grad_array(x.view(), bad.view(), Reduction::Sum, None, g.view_mut());
    assert!(
        matches!(e, Err(LossError::InvalidTarget { index: 13, .. })),
        "{e:?}"
    );
    assert!(g.iter().all(|&v| v == -7.0));
}

// ------------------------------------------------------------ cross-entropy --

/// Logits of `rows` rows of `c` classes (rows-major), labels with some
/// ignored, probability targets, sample weights.
#[allow(clippy::type_complexity)]
fn ce_data(rows: usize, c: usize, seed: u64) -> (Vec<f64>, Vec<i64>, Vec<f64>, Vec<f64>) {
    let mut rng = Rng(seed);
    let x = (0..rows * c).map(|_| 8.0 * rng.unit() - 4.0).collect();
    let labels = (0..rows)
        .map(|_| match rng.below(8) {
            0 => -100,
            _ => rng.below(c as u64) as i64,
        })
        .collect();
    let mut t: Vec<f64> = (0..rows * c).map(|_| rng.unit()).collect();
    for row in t.chunks_mut(c) {
        let s: f64 = row.iter().sum();
        row.iter_mut().for_each(|p| *p /= s);
    }
    let w = (0..rows).map(|_| 2.0 * rng.unit()).collect();
    (x, labels, t, w)
}

/// Shape `rows_shape` with `c` inserted at `axis`, and a C-order array of
/// that shape holding `rows` (rows-major, classes last) moved there.
fn with_class_axis(v: &[f64], rows_shape: &[usize], c: usize, axis: usize) -> ArrayD<f64> {
    let mut last = rows_shape.to_vec();
    last.push(c);
    let a = ArrayD::from_shape_vec(IxDyn(&last), v.to_vec()).unwrap();
    let nd = last.len();
    // Classes go from the last axis to `axis`.
    let order: Vec<usize> = (0..nd)
        .map(|k| match k {
            k if k < axis => k,
            k if k == axis => nd - 1,
            k => k - 1,
        })
        .collect();
    a.permuted_axes(IxDyn(&order))
        .as_standard_layout()
        .into_owned()
}

/// The classes along axis `axis` of an array laid out `layout`.
fn ce_case(rows_shape: &[usize], c: usize, axis: usize, layout: &str, seed: u64) {
    let rows: usize = rows_shape.iter().product();
    let (x, labels, t, w) = ce_data(rows, c, seed);
    let full = with_class_axis(&x, rows_shape, c, axis);
    let xa = laid_out(full.as_slice().unwrap(), full.shape(), layout);
    let probs = with_class_axis(&t, rows_shape, c, axis);
    let pa = laid_out(probs.as_slice().unwrap(), probs.shape(), "reversed");
    let la = ArrayD::from_shape_vec(IxDyn(rows_shape), labels.clone()).unwrap();
    let la = laid_out(la.as_slice().unwrap(), rows_shape, "f");
    let wa = laid_out(&w, rows_shape, "reversed");
    let shape = full.shape().to_vec();
    let ctx = format!("{rows_shape:?} C={c} axis {axis} {layout}");
    let ce = CrossEntropy::<f64>::new()
        .with_ignore_index(-100)
        .with_label_smoothing(0.05)
        .unwrap();
    let plain = CrossEntropy::<f64>::new();
    for (loss, index) in [(&ce, true), (&plain, false)] {
        for weighted in [false, true] {
            let ws = if weighted {
                Weights::Each(&w)
            } else {
                Weights::None
            };
            let wv = || weighted.then(|| wa.view());
            let target = || {
                if index {
                    ArrayTargets::Index(la.view())
                } else {
                    ArrayTargets::Probs(pa.view())
                }
            };
            let ts = if index {
                Targets::Index(&labels)
            } else {
                Targets::Probs(&t)
            };
            let ctx = format!("{ctx} index {index} weighted {weighted}");
            for r in [Reduction::Mean, Reduction::Sum] {
                let want = loss.value(&x, ts, c, r, ws).unwrap();
                let got = loss
                    .value_array(xa.view(), target(), Axis(axis), r, wv())
                    .unwrap();
                assert_eq!(got.to_bits(), want.to_bits(), "{ctx} {r:?}");

                let (mut g, mut h) = (vec![0.0; rows * c], vec![0.0; rows * c]);
                loss.grad_hess_into(&x, ts, c, r, ws, &mut g, &mut h)
                    .unwrap();
                let mut ga = laid_out(&vec![-7.0; rows * c], &shape, "every other");
                let mut ha = laid_out(&vec![-7.0; rows * c], &shape, "permuted");
                loss.grad_hess_array(
                    xa.view(),
                    target(),
                    Axis(axis),
                    r,
                    wv(),
                    ga.view_mut(),
                    ha.view_mut(),
                )
                .unwrap();
                let moved = |a: &ArrayD<f64>| {
                    let mut order: Vec<usize> = (0..shape.len()).filter(|&k| k != axis).collect();
                    order.push(axis);
                    a.view()
                        .permuted_axes(IxDyn(&order))
                        .iter()
                        .copied()
                        .collect::<Vec<_>>()
                };
                assert_same(&moved(&ga), &g, &format!("{ctx} {r:?} grad"));
                assert_same(&moved(&ha), &h, &format!("{ctx} {r:?} hess"));

                let want = loss.value_and_grad_into(&x, ts, c, r, ws, &mut g).unwrap();
                let mut ga = laid_out(&vec![-7.0; rows * c], &shape, "f");
                let got = loss
                    .value_and_grad_array(xa.view(), target(), Axis(axis), r, wv(), ga.view_mut())
                    .unwrap();
                assert_eq!(got.to_bits(), want.to_bits(), "{ctx} {r:?} value_and_grad");
                assert_same(&moved(&ga), &g, &format!("{ctx} {r:?} value_and_grad"));
            }
            let mut v = vec![0.0; rows];
            loss.value_each_into(&x, ts, c, ws, &mut v).unwrap();
            let mut va = laid_out(&vec![-7.0; rows], rows_shape, "reversed");
            loss.value_each_array(xa.view(), target(), Axis(axis), wv(), va.view_mut())
                .unwrap();
            assert_same(&bits(&va), &v, &format!("{ctx} value_each"));
        }
    }
}

/// Few classes (the small-row kernel), many, and more than a leaf holds
/// (one row a leaf); the class axis first, in the middle and last.
#[test]
fn cross_entropy_reads_any_class_axis_in_place() {
    for (rows_shape, c) in [
        (&[5usize, 7][..], 3usize),
        (&[3, 11], 40),
        (&[2, 3], 5000),
        (&[600], 9),
    ] {
        for axis in 0..=rows_shape.len() {
            for layout in LAYOUTS {
                ce_case(rows_shape, c, axis, layout, 17 + c as u64);
            }
        }
    }
}

#[test]
fn cross_entropy_errors() {
    let ce = CrossEntropy::<f64>::new();
    let x = ArrayD::<f64>::zeros(IxDyn(&[4, 3]));
    let labels = ndarray::Array1::<i64>::from(vec![0, 1, 2, 3]).into_dyn();
    let e = ce.value_array(
        x.view(),
        ArrayTargets::Index(labels.view()),
        Axis(2),
        Reduction::Sum,
        None,
    );
    assert!(
        matches!(e, Err(LossError::InvalidParameter { name: "axis", .. })),
        "{e:?}"
    );
    // Label 3 with C = 3, at index 3 of the labels.
    let e = ce.value_array(
        x.view(),
        ArrayTargets::Index(labels.view()),
        Axis(1),
        Reduction::Sum,
        None,
    );
    assert!(
        matches!(
            e,
            Err(LossError::InvalidLabel {
                index: 3,
                label: 3,
                classes: 3
            })
        ),
        "{e:?}"
    );
    let wrong: ArrayViewD<'_, i64> = labels.slice_axis(Axis(0), Slice::new(0, Some(3), 1));
    let e = ce.value_array(
        x.view(),
        ArrayTargets::Index(wrong),
        Axis(1),
        Reduction::Sum,
        None,
    );
    assert!(
        matches!(e, Err(LossError::ShapeMismatch { name: "target", .. })),
        "{e:?}"
    );
}
