//! Which instruction set the kernels run in: detected once, overridable with
//! `FASTLOSS_SIMD`, and passed explicitly to every kernel call so that tests
//! can run each level in turn.
//!
//! The kernels themselves are written once (see [`crate::kernel`]) and
//! instantiated per level by [`dispatch!`](crate::simd) below. Every level
//! produces bit-identical results: a product and a sum are rounded twice
//! (Rust never contracts them), and a fused `mul_add` once, whether by an FMA
//! instruction or, at the x86-64 baseline, by libm's correctly rounded
//! `fmaf`/`fma` (see [`crate::math`]).

use std::sync::atomic::{AtomicU8, Ordering};

/// A SIMD instruction-set level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// The target's baseline: SSE2 on x86-64, NEON on aarch64, plain code elsewhere.
    Baseline,
    /// AVX2 + FMA (x86-64).
    Avx2,
    /// AVX-512F (x86-64).
    Avx512,
}

/// A cached level not decided yet (no `Level` is stored as this).
const UNSET: u8 = u8::MAX;

impl Level {
    /// The name used by `FASTLOSS_SIMD` and `info()`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Baseline if cfg!(target_arch = "x86_64") => "sse2",
            Level::Baseline if cfg!(target_arch = "aarch64") => "neon",
            Level::Baseline => "scalar",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    /// Parses a `FASTLOSS_SIMD` value. `scalar`, `sse2` and `neon` all name the
    /// baseline of the target.
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scalar" | "sse2" | "neon" | "baseline" => Some(Level::Baseline),
            "avx2" => Some(Level::Avx2),
            "avx512" => Some(Level::Avx512),
            _ => None,
        }
    }

    /// The best level this machine supports.
    pub fn detected() -> Level {
        static DETECTED: AtomicU8 = AtomicU8::new(UNSET);
        Level::cached(&DETECTED, Level::probe)
    }

    /// The level `cell` holds, deciding it with `decide` on first use.
    ///
    /// Not a `OnceLock`: one being filled when another thread forks the
    /// process stays "being filled" in the child, whose first call would then
    /// wait for ever. Threads that race here each decide, and they decide
    /// alike.
    fn cached(cell: &AtomicU8, decide: impl FnOnce() -> Level) -> Level {
        match cell.load(Ordering::Relaxed) {
            UNSET => {
                let level = decide();
                cell.store(level as u8, Ordering::Relaxed);
                level
            }
            code => Level::from_code(code),
        }
    }

    /// The level stored as `level as u8`.
    fn from_code(code: u8) -> Level {
        match code {
            c if c == Level::Avx512 as u8 => Level::Avx512,
            c if c == Level::Avx2 as u8 => Level::Avx2,
            _ => Level::Baseline,
        }
    }

    fn probe() -> Level {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Level::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Level::Avx2;
            }
        }
        Level::Baseline
    }

    /// Every level this machine can run, lowest first.
    pub fn available() -> Vec<Level> {
        let best = Level::detected();
        [Level::Baseline, Level::Avx2, Level::Avx512]
            .into_iter()
            .filter(|l| *l <= best)
            .collect()
    }

    /// The level kernels use: the detected one, lowered by `FASTLOSS_SIMD` if
    /// set (a level above the machine's is capped to the machine's; an unknown
    /// name is ignored, and the Python module warns of it at import). Decided
    /// at the first call.
    pub fn active() -> Level {
        static ACTIVE: AtomicU8 = AtomicU8::new(UNSET);
        Level::cached(&ACTIVE, || {
            let best = Level::detected();
            match env_level() {
                Ok(Some(wanted)) => wanted.min(best),
                _ => best,
            }
        })
    }
}

/// The level `FASTLOSS_SIMD` names (`None`: unset or empty), or, for a name
/// no level has, what is wrong with it, said for a user.
pub(crate) fn env_level() -> Result<Option<Level>, String> {
    let value = std::env::var_os("FASTLOSS_SIMD");
    level_from(value.map(|v| v.to_string_lossy().into_owned()).as_deref())
}

/// [`env_level`] for the variable's value.
fn level_from(value: Option<&str>) -> Result<Option<Level>, String> {
    let text = value.unwrap_or("").trim();
    if text.is_empty() {
        return Ok(None);
    }
    match Level::parse(text) {
        Some(level) => Ok(Some(level)),
        None => Err(format!(
            "FASTLOSS_SIMD={text:?} names no SIMD level (scalar, sse2, neon, avx2 or \
             avx512); using this machine's best, {}",
            Level::detected().name()
        )),
    }
}

/// Defines `$name`, a function that calls the generic `#[inline(always)]`
/// body `$body` compiled for the requested [`Level`]. The body is
/// instantiated inside `#[target_feature]` functions so that everything it
/// inlines is compiled for that instruction set.
macro_rules! dispatch {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident<$($g:ident : $bound:path),* $(; const $c:ident : $ct:ty)*>
            ($($arg:ident : $ty:ty),* $(,)?) -> $ret:ty = $body:ident;
    ) => {
        $(#[$meta])*
        #[inline]
        $vis fn $name<$($g: $bound),* $(, const $c: $ct)*>(
            level: $crate::simd::Level, $($arg: $ty),*
        ) -> $ret {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn avx2<$($g: $bound),* $(, const $c: $ct)*>($($arg: $ty),*) -> $ret {
                $body::<$($g,)* $($c,)*>($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f")]
            fn avx512<$($g: $bound),* $(, const $c: $ct)*>($($arg: $ty),*) -> $ret {
                $body::<$($g,)* $($c,)*>($($arg),*)
            }
            // Capping by the detected level (a cached flag check) makes every
            // `Level` value safe to pass, whoever built it.
            match level.min($crate::simd::Level::detected()) {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the level is at most `Level::detected()`, which
                // checked that the CPU has these features.
                $crate::simd::Level::Avx512 => unsafe { avx512::<$($g,)* $($c,)*>($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above.
                $crate::simd::Level::Avx2 => unsafe { avx2::<$($g,)* $($c,)*>($($arg),*) },
                _ => $body::<$($g,)* $($c,)*>($($arg),*),
            }
        }
    };
}
pub(crate) use dispatch;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_from_the_environment() {
        assert_eq!(level_from(None), Ok(None));
        assert_eq!(level_from(Some("")), Ok(None));
        assert_eq!(level_from(Some(" AVX2 ")), Ok(Some(Level::Avx2)));
        assert_eq!(level_from(Some("sse2")), Ok(Some(Level::Baseline)));
        let why = level_from(Some("avx")).unwrap_err();
        assert!(why.contains("\"avx\"") && why.contains("avx512"), "{why}");
    }
}
