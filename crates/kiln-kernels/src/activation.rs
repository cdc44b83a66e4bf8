//! Element-wise math in explicit SIMD, for the fused kernels. burn-flex's `sigmoid` and
//! `tanh` call the scalar `exp` for every element, which in a fused recurrent step would cost
//! as much as the step's matrix product, and loops left to the compiler's vectoriser lose
//! their vectors as soon as two gate blocks of one buffer are written in place.
//!
//! [`vectorised`] runs work through pulp's run-time dispatch (AVX-512, AVX2+FMA, or plain
//! scalars, whichever the CPU has); the work gets a [`Lanes`] to compute with.

use pulp::Simd;

const LOG2E: f32 = std::f32::consts::LOG2_E;
// ln 2 split in two so that n * ln2 is exact in its high part (Cody and Waite).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 * 2^23: adding and subtracting it rounds a float of magnitude below 2^22 to an integer.
const ROUND: f32 = 12_582_912.0;
// Cephes' minimax polynomial for e^r on [-ln2/2, ln2/2].
const P: [f32; 6] = [
    1.987_569_2e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];

/// e^x to within a few units in the last place: e^x = 2^n e^r with |r| <= ln2 / 2. Inputs
/// are clamped to where e^x is a normal float, so large arguments saturate instead of
/// overflowing; NaN stays NaN. The scalar twin of [`Lanes::exp`], which tests hold it to.
#[cfg(test)]
pub fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    let x = x.clamp(-87.3, 88.3);
    // t's low mantissa bits hold n = round(x / ln 2) exactly, since ulp(t) = 1.
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = P[1..].iter().fold(P[0], |p, &c| p * r + c);
    let p = p * r * r + r + 1.0;
    // 2^n from the bits of t: n lies in [-126, 127] after the clamp, a normal exponent.
    let scale = f32::from_bits(t.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23);
    p * scale
}

#[cfg(test)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh(x) = 1 - 2 / (e^{2x} + 1): exact limits at both ends, absolute error near 1e-7.
#[cfg(test)]
pub fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// Vectors of `f32` on the instruction set pulp chose, with the operations the kernels use.
#[derive(Clone, Copy, Debug)]
pub struct Lanes<S: Simd>(pub S);

impl<S: Simd> Lanes<S> {
    /// Values per vector.
    pub const N: usize = S::F32_LANES;

    /// The vector at `v[i..]`, padded with zeros past the end of `v`.
    #[inline(always)]
    pub fn load(self, v: &[f32], i: usize) -> S::f32s {
        match v.get(i..i + Self::N) {
            // A plain vector load; pulp's partial load is an out-of-line call.
            Some(full) => S::as_simd_f32s(full).0[0],
            None => self.0.partial_load_f32s(&v[i..]),
        }
    }

    /// Writes the lanes that fall inside `v`.
    #[inline(always)]
    pub fn store(self, v: &mut [f32], i: usize, x: S::f32s) {
        let n = Self::N;
        if i + n <= v.len() {
            S::as_mut_simd_f32s(&mut v[i..i + n]).0[0] = x;
        } else {
            self.0.partial_store_f32s(&mut v[i..], x)
        }
    }

    #[inline(always)]
    pub fn splat(self, x: f32) -> S::f32s {
        self.0.splat_f32s(x)
    }

    #[inline(always)]
    pub fn add(self, a: S::f32s, b: S::f32s) -> S::f32s {
        self.0.add_f32s(a, b)
    }

    #[inline(always)]
    pub fn sub(self, a: S::f32s, b: S::f32s) -> S::f32s {
        self.0.sub_f32s(a, b)
    }

    #[inline(always)]
    pub fn mul(self, a: S::f32s, b: S::f32s) -> S::f32s {
        self.0.mul_f32s(a, b)
    }

    /// `a * b + c`, fused where the CPU has FMA.
    #[inline(always)]
    pub fn mul_add(self, a: S::f32s, b: S::f32s, c: S::f32s) -> S::f32s {
        self.0.mul_add_f32s(a, b, c)
    }

    #[inline(always)]
    pub fn div(self, a: S::f32s, b: S::f32s) -> S::f32s {
        self.0.div_f32s(a, b)
    }

    /// `1 - x`.
    #[inline(always)]
    pub fn one_minus(self, x: S::f32s) -> S::f32s {
        self.sub(self.splat(1.0), x)
    }

    /// `x`, with magnitudes below 1e-30 made zero. Gradients that fade through many steps
    /// would otherwise become subnormal floats, on which the CPU's arithmetic (the matrix
    /// products' included) is many times slower; at that size they change nothing.
    #[inline(always)]
    pub fn flush(self, x: S::f32s) -> S::f32s {
        self.flush_below(x, 1e-30)
    }

    /// `x`, with magnitudes below `limit` made zero.
    #[inline(always)]
    pub fn flush_below(self, x: S::f32s, limit: f32) -> S::f32s {
        let s = self.0;
        let tiny = s.less_than_f32s(s.abs_f32s(x), s.splat_f32s(limit));
        s.select_f32s(tiny, s.splat_f32s(0.0), x)
    }

    /// [`exp`] on every lane.
    #[inline(always)]
    pub fn exp(self, x: S::f32s) -> S::f32s {
        let s = self.0;
        let clamped = s.min_f32s(s.max_f32s(x, s.splat_f32s(-87.3)), s.splat_f32s(88.3));
        let t = s.mul_add_f32s(clamped, s.splat_f32s(LOG2E), s.splat_f32s(ROUND));
        let n = s.sub_f32s(t, s.splat_f32s(ROUND));
        let r = s.sub_f32s(clamped, s.mul_f32s(n, s.splat_f32s(LN2_HI)));
        let r = s.sub_f32s(r, s.mul_f32s(n, s.splat_f32s(LN2_LO)));
        let mut p = s.splat_f32s(P[0]);
        for c in &P[1..] {
            p = s.mul_add_f32s(p, r, s.splat_f32s(*c));
        }
        let p = s.add_f32s(s.mul_add_f32s(s.mul_f32s(p, r), r, r), s.splat_f32s(1.0));
        let bits = s.add_u32s(
            s.transmute_u32s_f32s(t),
            s.splat_u32s(127u32.wrapping_sub(ROUND.to_bits())),
        );
        let scale = s.transmute_f32s_u32s(s.wrapping_dyn_shl_u32s(bits, s.splat_u32s(23)));
        let e = s.mul_f32s(p, scale);
        // NaN compares unequal to itself: keep it rather than the clamped value's result.
        s.select_f32s(s.equal_f32s(x, x), e, x)
    }

    #[inline(always)]
    pub fn sigmoid(self, x: S::f32s) -> S::f32s {
        let one = self.splat(1.0);
        self.div(one, self.add(one, self.exp(self.sub(self.splat(0.0), x))))
    }

    #[inline(always)]
    pub fn tanh(self, x: S::f32s) -> S::f32s {
        let one = self.splat(1.0);
        let e = self.exp(self.add(x, x));
        self.sub(one, self.div(self.splat(2.0), self.add(e, one)))
    }
}

/// Work compiled for the best instruction set this CPU offers: [`vectorised`] calls `run`
/// inside a function built with that set's target features.
pub trait Vectorised {
    type Output;
    fn run<S: Simd>(self, lanes: Lanes<S>) -> Self::Output;
}

struct Dispatch<V>(V);

impl<V: Vectorised> pulp::WithSimd for Dispatch<V> {
    type Output = V::Output;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> V::Output {
        self.0.run(Lanes(simd))
    }
}

/// Runs `work` through pulp's run-time dispatch. `run` must be `#[inline(always)]`, and so
/// must what it calls, or it is compiled once outside the dispatch, without the vectors.
#[inline(always)]
pub fn vectorised<V: Vectorised>(work: V) -> V::Output {
    pulp::Arch::new().dispatch(Dispatch(work))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_sigmoid_and_tanh_match_the_standard_library() {
        let mut worst = [0.0f64; 3];
        let mut x = -100.0f32;
        while x <= 100.0 {
            let rel = |a: f32, b: f32| ((a as f64 - b as f64) / (b as f64).abs().max(1e-30)).abs();
            if x.abs() < 87.0 {
                worst[0] = worst[0].max(rel(exp(x), x.exp()));
            }
            let s = 1.0 / (1.0 + (-x as f64).exp());
            worst[1] = worst[1].max((sigmoid(x) as f64 - s).abs());
            worst[2] = worst[2].max((tanh(x) as f64 - (x as f64).tanh()).abs());
            x += 0.001_3;
        }
        assert!(worst[0] < 4e-7, "exp relative error {}", worst[0]);
        assert!(worst[1] < 2e-7, "sigmoid absolute error {}", worst[1]);
        assert!(worst[2] < 3e-7, "tanh absolute error {}", worst[2]);
    }

    #[test]
    fn the_extremes_saturate_and_nan_propagates() {
        assert_eq!(sigmoid(1e30), 1.0);
        assert!(sigmoid(-1e30) < 1e-37);
        assert_eq!(tanh(1e30), 1.0);
        assert_eq!(tanh(-1e30), -1.0);
        assert!(exp(f32::INFINITY).is_finite());
        assert!(exp(f32::NAN).is_nan());
        assert!(sigmoid(f32::NAN).is_nan());
        assert!(tanh(f32::NAN).is_nan());
    }

    /// Every vector level the CPU has is compiled in: a missing level falls back to scalars
    /// without a word, at a fraction of the speed.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_dispatch_uses_the_widest_vectors_the_cpu_has() {
        struct Width;
        impl Vectorised for Width {
            type Output = usize;
            #[inline(always)]
            fn run<S: Simd>(self, _: Lanes<S>) -> usize {
                Lanes::<S>::N
            }
        }
        let has = |features: &[bool]| features.iter().all(|&f| f);
        let expected = if has(&[
            is_x86_feature_detected!("avx512f"),
            is_x86_feature_detected!("avx512bw"),
            is_x86_feature_detected!("avx512cd"),
            is_x86_feature_detected!("avx512dq"),
            is_x86_feature_detected!("avx512vl"),
        ]) {
            16
        } else if has(&[
            is_x86_feature_detected!("avx2"),
            is_x86_feature_detected!("fma"),
            is_x86_feature_detected!("bmi1"),
            is_x86_feature_detected!("bmi2"),
            is_x86_feature_detected!("lzcnt"),
        ]) {
            8
        } else {
            1
        };
        assert_eq!(vectorised(Width), expected, "f32 lanes per vector");
    }

    /// The vector functions on every instruction set give the scalar ones' values.
    #[test]
    fn the_vector_functions_match_the_scalar_ones() {
        struct Check(Vec<f32>);
        impl Vectorised for Check {
            type Output = (f32, usize);
            #[inline(always)]
            fn run<S: Simd>(self, v: Lanes<S>) -> (f32, usize) {
                let mut worst = 0.0f32;
                let mut i = 0;
                while i < self.0.len() {
                    let x = v.load(&self.0, i);
                    for (f, scalar) in [
                        (v.exp(x), exp as fn(f32) -> f32),
                        (v.sigmoid(x), sigmoid),
                        (v.tanh(x), tanh),
                    ] {
                        let mut got = vec![0.0; Lanes::<S>::N];
                        v.store(&mut got, 0, f);
                        for (k, g) in got.iter().enumerate().take(self.0.len() - i) {
                            let want = scalar(self.0[i + k]);
                            let err = if want.is_nan() {
                                if g.is_nan() { 0.0 } else { f32::INFINITY }
                            } else {
                                (g - want).abs() / want.abs().max(1.0)
                            };
                            worst = worst.max(err);
                        }
                    }
                    i += Lanes::<S>::N;
                }
                (worst, Lanes::<S>::N)
            }
        }
        let mut xs: Vec<f32> = (0..20_001).map(|i| (i as f32 - 10_000.0) * 0.011).collect();
        xs.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 1e-30]);
        let (worst, lanes) = vectorised(Check(xs));
        assert!(
            worst < 1e-6,
            "worst relative difference {worst} on {lanes} lanes"
        );
    }
}
