//! TEMPORARY placeholder until the vector math module lands (not committed).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    x.exp()
}
#[inline(always)]
pub fn exp_f64(x: f64) -> f64 {
    x.exp()
}
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    x.ln()
}
#[inline(always)]
pub fn ln_f64(x: f64) -> f64 {
    x.ln()
}
#[inline(always)]
pub fn log1p_f32(x: f32) -> f32 {
    x.ln_1p()
}
#[inline(always)]
pub fn log1p_f64(x: f64) -> f64 {
    x.ln_1p()
}
