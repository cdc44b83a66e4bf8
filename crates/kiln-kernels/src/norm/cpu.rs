//! Batch normalisation in training, and its gradients, on plain `f32` slices in NCHW.
//!
//! The input is read as planes: `[batch, channels, inner]`, one contiguous plane of `inner`
//! values (a feature map's pixels) per sample and channel. Every pass walks the planes in
//! memory order with the batch split over threads; nothing is transposed. A plane's sum is
//! taken in vector lanes and kept in `f64`, and the planes' sums are added over the batch in
//! sample order, so the statistics do not depend on the number of threads.
//!
//! Forward: the mean, then the biased variance about it (two reads, as burn's composed
//! operation computes them), then `y = (x - mean) * gamma / sqrt(var + eps) + beta`, plus a
//! residual block's shortcut where there is one, and `max(y, 0)` where a ReLU follows, in one
//! write. Backward: one read for the two sums per channel (which turns the output's gradient
//! into the ReLU's in place: that is also the shortcut's), one write for the input's gradient.

use pulp::Simd;
use rayon::prelude::*;

use crate::Needed;
use crate::activation::{Lanes, Vectorised, vectorised};
use crate::flex::zeros;

/// `[batch, channels, inner]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NormDims {
    pub batch: usize,
    pub channels: usize,
    pub inner: usize,
}

impl NormDims {
    /// Values per channel: what each statistic averages over.
    fn count(&self) -> f64 {
        (self.batch * self.inner) as f64
    }

    fn len(&self) -> usize {
        self.batch * self.channels * self.inner
    }

    /// Values of one sample.
    fn sample(&self) -> usize {
        self.channels * self.inner
    }

    /// Samples per block of work.
    fn per_block(&self) -> usize {
        crate::samples_per_block(self.batch)
    }
}

/// The statistics of a batch, per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Statistics {
    pub mean: Vec<f32>,
    /// Biased (divided by the count), as the normalisation uses it.
    pub variance: Vec<f32>,
}

/// `1 / sqrt(var + eps)`: the one definition the forward and backward passes share.
fn inv_std(variance: f32, epsilon: f64) -> f32 {
    (1.0 / (variance as f64 + epsilon).sqrt()) as f32
}

/// What a pass sums over each plane.
#[derive(Clone, Copy)]
enum Sums<'a> {
    /// `x`.
    Values,
    /// `(x - mean)^2`.
    Squares { mean: &'a [f32] },
}

/// The sum of every plane, `[batch * channels]`.
fn plane_sums(d: &NormDims, x: &[f32], sums: Sums) -> Vec<f64> {
    let mut out = vec![0.0; d.batch * d.channels];
    if out.is_empty() {
        return out;
    }
    let per = d.per_block();
    out.par_chunks_mut(per * d.channels)
        .enumerate()
        .for_each(|(i, out)| {
            vectorised(SumsBlock {
                d,
                x: &x[i * per * d.sample()..],
                sums,
                out,
            })
        });
    out
}

/// [`plane_sums`] over one block of samples: `x` starts at its first sample.
struct SumsBlock<'a> {
    d: &'a NormDims,
    x: &'a [f32],
    sums: Sums<'a>,
    out: &'a mut [f64],
}

impl Vectorised for SumsBlock<'_> {
    type Output = ();

    #[inline(always)]
    fn run<S: Simd>(self, v: Lanes<S>) {
        let SumsBlock { d, x, sums, out } = self;
        let n = d.inner;
        for (p, out) in out.iter_mut().enumerate() {
            let c = p % d.channels;
            let xs = &x[p * n..(p + 1) * n];
            *out = match sums {
                Sums::Values => sum(v, xs, |x| x, |x| x),
                Sums::Squares { mean } => {
                    let (m, ms) = (mean[c], v.splat(mean[c]));
                    sum(
                        v,
                        xs,
                        |x| {
                            let e = v.sub(x, ms);
                            v.mul(e, e)
                        },
                        |x| (x - m) * (x - m),
                    )
                }
            };
        }
    }
}

/// The output's gradient as the backward pass receives it.
#[derive(Debug)]
pub enum OutputGradient<'a> {
    /// No ReLU followed: read as it is.
    Plain(&'a [f32]),
    /// A ReLU followed, whose output was `y`: `dy` is turned into the ReLU's gradient in
    /// place (`dy` where `y > 0`, zero elsewhere), which is also the gradient of a residual
    /// added before the ReLU.
    Relu { dy: &'a mut [f32], y: &'a [f32] },
}

impl OutputGradient<'_> {
    fn len(&self) -> usize {
        match self {
            OutputGradient::Plain(dy) => dy.len(),
            OutputGradient::Relu { dy, .. } => dy.len(),
        }
    }
}

/// `[sum g, sum g (x - mean)]` of every plane, where `g` is the gradient below the ReLU.
fn gradient_plane_sums(d: &NormDims, x: &[f32], mean: &[f32], dy: OutputGradient) -> Vec<[f64; 2]> {
    let mut out = vec![[0.0; 2]; d.batch * d.channels];
    if d.len() == 0 {
        return out;
    }
    let per = d.per_block();
    let block = per * d.sample();
    let blocks = out.par_chunks_mut(per * d.channels).enumerate();
    let sums = |i: usize, out, dy| {
        vectorised(GradientSumsBlock {
            d,
            x: &x[i * block..],
            mean,
            dy,
            out,
        })
    };
    match dy {
        OutputGradient::Plain(dy) => {
            blocks.for_each(|(i, out)| sums(i, out, OutputGradient::Plain(&dy[i * block..])))
        }
        OutputGradient::Relu { dy, y } => {
            blocks
                .zip(dy.par_chunks_mut(block))
                .for_each(|((i, out), dy)| {
                    let y = &y[i * block..];
                    sums(i, out, OutputGradient::Relu { dy, y })
                })
        }
    }
    out
}

/// [`gradient_plane_sums`] over one block of samples, all slices starting at its first.
struct GradientSumsBlock<'a> {
    d: &'a NormDims,
    x: &'a [f32],
    mean: &'a [f32],
    dy: OutputGradient<'a>,
    out: &'a mut [[f64; 2]],
}

impl Vectorised for GradientSumsBlock<'_> {
    type Output = ();

    #[inline(always)]
    fn run<S: Simd>(self, v: Lanes<S>) {
        let GradientSumsBlock {
            d,
            x,
            mean,
            mut dy,
            out,
        } = self;
        let n = d.inner;
        for (p, out) in out.iter_mut().enumerate() {
            let at = p * n..(p + 1) * n;
            let g: &[f32] = match &mut dy {
                OutputGradient::Plain(dy) => &dy[at.clone()],
                OutputGradient::Relu { dy, y } => {
                    // The plane stays in cache for the sums below.
                    let g = &mut dy[at.clone()];
                    relu_gradient(v, g, &y[at.clone()]);
                    g
                }
            };
            *out = gradient_sums(v, &x[at], g, mean[p % d.channels]);
        }
    }
}

/// `g` zeroed where the ReLU's output `y` was not positive.
#[inline(always)]
fn relu_gradient<S: Simd>(v: Lanes<S>, g: &mut [f32], y: &[f32]) {
    let n = Lanes::<S>::N;
    let whole = g.len() / n * n;
    let s = v.0;
    let zero = s.splat_f32s(0.0);
    let mut i = 0;
    while i < whole {
        let keep = s.greater_than_f32s(v.load(y, i), zero);
        v.store(g, i, s.select_f32s(keep, v.load(g, i), zero));
        i += n;
    }
    for j in whole..g.len() {
        if y[j] <= 0.0 {
            g[j] = 0.0;
        }
    }
}

/// The sum of `f` over a plane: whole vectors in lanes, added across at the end, then the
/// values past the last whole vector one at a time (`scalar`, the same function).
#[inline(always)]
fn sum<S: Simd>(
    v: Lanes<S>,
    xs: &[f32],
    f: impl Fn(S::f32s) -> S::f32s,
    scalar: impl Fn(f32) -> f32,
) -> f64 {
    let n = Lanes::<S>::N;
    let whole = xs.len() / n * n;
    let mut acc = v.splat(0.0);
    let mut i = 0;
    while i < whole {
        acc = v.add(acc, f(v.load(xs, i)));
        i += n;
    }
    let mut total = v.0.reduce_sum_f32s(acc) as f64;
    for &x in &xs[whole..] {
        total += scalar(x) as f64;
    }
    total
}

/// `[sum g, sum g (x - mean)]` over one plane.
#[inline(always)]
fn gradient_sums<S: Simd>(v: Lanes<S>, xs: &[f32], g: &[f32], mean: f32) -> [f64; 2] {
    let n = Lanes::<S>::N;
    let whole = xs.len() / n * n;
    let ms = v.splat(mean);
    let (mut g_acc, mut gx_acc) = (v.splat(0.0), v.splat(0.0));
    let mut i = 0;
    while i < whole {
        let gi = v.load(g, i);
        g_acc = v.add(g_acc, gi);
        gx_acc = v.mul_add(gi, v.sub(v.load(xs, i), ms), gx_acc);
        i += n;
    }
    let mut sums = [
        v.0.reduce_sum_f32s(g_acc) as f64,
        v.0.reduce_sum_f32s(gx_acc) as f64,
    ];
    for j in whole..xs.len() {
        sums[0] += g[j] as f64;
        sums[1] += (g[j] * (xs[j] - mean)) as f64;
    }
    sums
}

/// Per channel, the planes' sums (`of` picks one of a plane's) added over the batch in sample
/// order.
fn per_channel<T>(d: &NormDims, sums: &[T], of: impl Fn(&T) -> f64) -> Vec<f64> {
    let mut total = vec![0.0; d.channels];
    for sample in sums.chunks_exact(d.channels.max(1)) {
        for (t, s) in total.iter_mut().zip(sample) {
            *t += of(s);
        }
    }
    total
}

/// The batch's statistics per channel.
pub fn statistics(d: &NormDims, x: &[f32]) -> Statistics {
    assert_eq!(x.len(), d.len(), "batch norm input");
    let count = d.count();
    let mean: Vec<f32> = per_channel(d, &plane_sums(d, x, Sums::Values), |s| *s)
        .into_iter()
        .map(|s| (s / count) as f32)
        .collect();
    let squares = plane_sums(d, x, Sums::Squares { mean: &mean });
    let variance = per_channel(d, &squares, |s| *s)
        .into_iter()
        .map(|s| (s / count) as f32)
        .collect();
    Statistics { mean, variance }
}

/// `x [batch, channels, inner]` normalised with the batch's statistics, scaled by `gamma`,
/// shifted by `beta`, plus `residual` (the same shape) where given, and through a ReLU when
/// `relu`; the statistics with it.
pub fn forward(
    d: &NormDims,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
    residual: Option<&[f32]>,
    relu: bool,
) -> (Vec<f32>, Statistics) {
    assert_eq!(gamma.len(), d.channels, "batch norm gamma");
    assert_eq!(beta.len(), d.channels, "batch norm beta");
    if let Some(r) = residual {
        assert_eq!(r.len(), d.len(), "batch norm residual");
    }
    let stats = statistics(d, x);
    if d.len() == 0 {
        return (Vec::new(), stats);
    }
    let scale: Vec<f32> = gamma
        .iter()
        .zip(&stats.variance)
        .map(|(g, var)| g * inv_std(*var, epsilon))
        .collect();
    let mut out = zeros(d.len());
    let per = d.per_block();
    out.par_chunks_mut(per * d.sample())
        .enumerate()
        .for_each(|(i, out)| {
            vectorised(AffineBlock {
                d,
                x: &x[i * per * d.sample()..],
                residual: residual.map(|r| &r[i * per * d.sample()..]),
                mean: &stats.mean,
                scale: &scale,
                shift: beta,
                relu,
                out,
            })
        });
    (out, stats)
}

/// `out = (x - mean) * scale + shift (+ residual)` per channel, through a ReLU when `relu`.
/// The residual is added to the rounded affine value, as a separate addition would.
struct AffineBlock<'a> {
    d: &'a NormDims,
    x: &'a [f32],
    residual: Option<&'a [f32]>,
    mean: &'a [f32],
    scale: &'a [f32],
    shift: &'a [f32],
    relu: bool,
    out: &'a mut [f32],
}

impl Vectorised for AffineBlock<'_> {
    type Output = ();

    #[inline(always)]
    fn run<S: Simd>(self, v: Lanes<S>) {
        let AffineBlock {
            d,
            x,
            residual,
            mean,
            scale,
            shift,
            relu,
            out,
        } = self;
        let (n, lanes) = (d.inner, Lanes::<S>::N);
        let whole = n / lanes * lanes;
        let zero = v.splat(0.0);
        for (p, ys) in out.chunks_exact_mut(n).enumerate() {
            let c = p % d.channels;
            let xs = &x[p * n..(p + 1) * n];
            let rs = residual.map(|r| &r[p * n..(p + 1) * n]);
            let (m, a, b) = (v.splat(mean[c]), v.splat(scale[c]), v.splat(shift[c]));
            let mut i = 0;
            while i < whole {
                let mut y = v.mul_add(v.sub(v.load(xs, i), m), a, b);
                if let Some(rs) = rs {
                    y = v.add(y, v.load(rs, i));
                }
                v.store(ys, i, if relu { v.0.max_f32s(y, zero) } else { y });
                i += lanes;
            }
            for j in whole..n {
                let mut y = (xs[j] - mean[c]) * scale[c] + shift[c];
                if let Some(rs) = rs {
                    y += rs[j];
                }
                ys[j] = if relu { y.max(0.0) } else { y };
            }
        }
    }
}

/// The gradients from the output's, those asked for.
#[derive(Debug, Default, PartialEq)]
pub struct Gradients {
    pub x: Option<Vec<f32>>,
    pub gamma: Option<Vec<f32>>,
    pub beta: Option<Vec<f32>>,
}

/// The gradients of `x`, `gamma` and `beta` (those `needed`) from the output's, `dy` (see
/// [`OutputGradient`] for the ReLU's).
pub fn backward(
    d: &NormDims,
    x: &[f32],
    gamma: &[f32],
    stats: &Statistics,
    epsilon: f64,
    dy: OutputGradient,
    needed: Needed,
) -> Gradients {
    assert_eq!(x.len(), d.len(), "batch norm input");
    assert_eq!(dy.len(), d.len(), "batch norm output gradient");
    if let OutputGradient::Relu { y, .. } = &dy {
        assert_eq!(y.len(), d.len(), "batch norm output");
    }
    let inv: Vec<f32> = stats
        .variance
        .iter()
        .map(|var| inv_std(*var, epsilon))
        .collect();
    // The sums, and the gradient below the ReLU that they were taken of.
    let (sums, g): (_, &[f32]) = match dy {
        OutputGradient::Plain(dy) => (
            gradient_plane_sums(d, x, &stats.mean, OutputGradient::Plain(dy)),
            dy,
        ),
        OutputGradient::Relu { dy, y } => {
            let relu = OutputGradient::Relu { dy: &mut *dy, y };
            (gradient_plane_sums(d, x, &stats.mean, relu), &*dy)
        }
    };
    let dbeta = per_channel(d, &sums, |s| s[0]);
    let dgamma: Vec<f64> = per_channel(d, &sums, |s| s[1])
        .into_iter()
        .zip(&inv)
        .map(|(s, i)| s * *i as f64)
        .collect();
    let dx = needed.x.then(|| {
        let count = d.count();
        // dx = gamma inv_std (g - dbeta / count - (x - mean) inv_std dgamma / count)
        let scale: Vec<f32> = gamma.iter().zip(&inv).map(|(g, i)| g * i).collect();
        let offset: Vec<f32> = dbeta.iter().map(|s| (s / count) as f32).collect();
        let slope: Vec<f32> = dgamma
            .iter()
            .zip(&inv)
            .map(|(s, i)| (s / count) as f32 * i)
            .collect();
        let mut dx = zeros(d.len());
        if d.len() > 0 {
            let per = d.per_block();
            let at = |i: usize| i * per * d.sample();
            dx.par_chunks_mut(per * d.sample())
                .enumerate()
                .for_each(|(i, dx)| {
                    vectorised(InputGradBlock {
                        d,
                        x: &x[at(i)..],
                        g: &g[at(i)..],
                        mean: &stats.mean,
                        scale: &scale,
                        offset: &offset,
                        slope: &slope,
                        dx,
                    })
                });
        }
        dx
    });
    let narrow = |v: Vec<f64>| v.into_iter().map(|s| s as f32).collect::<Vec<f32>>();
    Gradients {
        x: dx,
        gamma: needed.w.then(|| narrow(dgamma)),
        beta: needed.bias.then(|| narrow(dbeta)),
    }
}

/// `dx = scale (g - offset - (x - mean) slope)` per channel, `g` the ReLU's gradient.
struct InputGradBlock<'a> {
    d: &'a NormDims,
    x: &'a [f32],
    g: &'a [f32],
    mean: &'a [f32],
    scale: &'a [f32],
    offset: &'a [f32],
    slope: &'a [f32],
    dx: &'a mut [f32],
}

impl Vectorised for InputGradBlock<'_> {
    type Output = ();

    #[inline(always)]
    fn run<S: Simd>(self, v: Lanes<S>) {
        let InputGradBlock {
            d,
            x,
            g,
            mean,
            scale,
            offset,
            slope,
            dx,
        } = self;
        let (n, lanes) = (d.inner, Lanes::<S>::N);
        let whole = n / lanes * lanes;
        for (p, out) in dx.chunks_exact_mut(n).enumerate() {
            let c = p % d.channels;
            let at = p * n..(p + 1) * n;
            let (xs, gs) = (&x[at.clone()], &g[at]);
            let (m, k, o, s) = (
                v.splat(mean[c]),
                v.splat(scale[c]),
                v.splat(offset[c]),
                v.splat(slope[c]),
            );
            let mut i = 0;
            while i < whole {
                let centred = v.sub(v.load(xs, i), m);
                // g - offset - centred * slope
                let inner = v.sub(v.sub(v.load(gs, i), o), v.mul(centred, s));
                v.store(out, i, v.mul(k, inner));
                i += lanes;
            }
            for j in whole..n {
                out[j] = scale[c] * (gs[j] - offset[c] - (xs[j] - mean[c]) * slope[c]);
            }
        }
    }
}
