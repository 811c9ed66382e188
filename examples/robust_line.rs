//! Fits a straight line through points with five strong outliers by gradient
//! descent, once under MSE and once under Huber, with no Python anywhere:
//! MSE's line is pulled toward the outliers, Huber's is not. Then one Newton
//! step on a constant with `grad_hess_into`, and a softmax cross-entropy.
//!
//! Run it with `cargo run --release --example robust_line`.

use fastloss::{CrossEntropy, Huber, LossError, Mse, PointwiseLoss, Reduction, Targets, Weights};

/// Points on `y = 2x + 1` (with a small deterministic wiggle), the last five
/// moved 40 below the line.
fn points() -> (Vec<f64>, Vec<f64>) {
    let n = 40;
    let x: Vec<f64> = (0..n).map(|i| 10.0 * i as f64 / (n - 1) as f64).collect();
    let y = x
        .iter()
        .enumerate()
        .map(|(i, &xi)| {
            let wiggle = 0.3 * ((i * 7919 % 13) as f64 / 6.0 - 1.0);
            let outlier = if i >= n - 5 { -40.0 } else { 0.0 };
            2.0 * xi + 1.0 + wiggle + outlier
        })
        .collect();
    (x, y)
}

/// Slope and intercept minimising the mean `loss` of `a·x + b` against `y`,
/// by plain gradient descent: `∂/∂a = Σ g_i·x_i`, `∂/∂b = Σ g_i`, with `g`
/// the gradient of the mean loss with respect to the predictions.
fn fit_line<L: PointwiseLoss<f64>>(
    loss: &L,
    x: &[f64],
    y: &[f64],
) -> Result<(f64, f64, f64), LossError> {
    let (mut a, mut b) = (0.0, 0.0);
    let mut pred = vec![0.0; x.len()];
    let mut grad = vec![0.0; x.len()];
    let mut value = 0.0;
    for step in 0..20_000 {
        for (p, &xi) in pred.iter_mut().zip(x) {
            *p = a * xi + b;
        }
        value = loss.value_and_grad_into(&pred, y, Reduction::Mean, Weights::None, &mut grad)?;
        let da: f64 = grad.iter().zip(x).map(|(g, xi)| g * xi).sum();
        let db: f64 = grad.iter().sum();
        // A step that shrinks slowly lets the kinks of Huber settle.
        let lr = 0.02 / (1.0 + step as f64 / 5_000.0);
        a -= lr * da;
        b -= lr * db;
    }
    Ok((a, b, value))
}

fn main() -> Result<(), LossError> {
    let (x, y) = points();
    println!("y = 2x + 1 + noise, 40 points, the last 5 moved 40 down");
    println!(
        "{:<12} {:>8} {:>10} {:>12}",
        "loss", "slope", "intercept", "final loss"
    );
    let (a, b, v) = fit_line(&Mse, &x, &y)?;
    println!("{:<12} {a:>8.3} {b:>10.3} {v:>12.4}", "MSE");
    let (a, b, v) = fit_line(&Huber::<f64>::new(1.0)?, &x, &y)?;
    println!("{:<12} {a:>8.3} {b:>10.3} {v:>12.4}", "Huber (δ=1)");

    // A Newton step on a constant prediction c: c − Σg / Σh. Under MSE one
    // step lands on the mean, whatever c starts at.
    let c = 0.0;
    let pred = vec![c; y.len()];
    let (mut g, mut h) = (vec![0.0; y.len()], vec![0.0; y.len()]);
    Mse.grad_hess_into(&pred, &y, Reduction::Sum, Weights::None, &mut g, &mut h)?;
    let newton = c - g.iter().sum::<f64>() / h.iter().sum::<f64>();
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    println!("\none Newton step under MSE: {newton:.6} (the mean: {mean:.6})");

    // Softmax cross-entropy: 2 rows of 3 logits, class-index targets.
    let logits = [2.0_f32, 0.5, -1.0, 0.0, 0.0, 3.0];
    let ce = CrossEntropy::<f32>::new().with_label_smoothing(0.1)?;
    let mut grad = [0.0_f32; 6];
    let loss = ce.value_and_grad_into(
        &logits,
        Targets::Index(&[0, 2]),
        3,
        Reduction::Mean,
        Weights::None,
        &mut grad,
    )?;
    println!("cross-entropy (label smoothing 0.1): {loss:.5}, gradient {grad:.4?}");
    Ok(())
}
