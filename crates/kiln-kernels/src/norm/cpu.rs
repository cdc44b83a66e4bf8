//! Batch normalisation in training, and its gradients, on plain `f32` slices in NCHW.
//!
//! The input is read as planes: `[batch, channels, inner]`, one contiguous plane of `inner`
//! values (a feature map's pixels) per sample and channel. Every pass walks the planes in
//! memory order with the batch split over threads; nothing is transposed. A plane's sum is
//! taken in vector lanes and kept in `f64`, and the planes' sums are added over the batch in
//! sample order, so the statistics do not depend on the number of threads.
//!
//! Forward: the mean, then the biased variance about it (two reads, as burn's composed
//! operation computes them), then `y = (x - mean) * gamma / sqrt(var + eps) + beta`, and
//! `max(y, 0)` where a ReLU follows, in one write. Backward: one read for the two sums per
//! channel, one write for the input's gradient.

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
    /// `g` and `g (x - mean)`, where `g` is `dy`, zero where the ReLU's output `y` was.
    Gradient {
        mean: &'a [f32],
        dy: &'a [f32],
        y: Option<&'a [f32]>,
    },
}

/// The sums of every plane, `[batch * channels]`, two per plane (the second only for
/// [`Sums::Gradient`]).
fn plane_sums(d: &NormDims, x: &[f32], sums: Sums) -> Vec<[f64; 2]> {
    let mut out = vec![[0.0; 2]; d.batch * d.channels];
    if out.is_empty() {
        return out;
    }
    let per = d.per_block();
    let start = |i: usize| i * per * d.sample();
    out.par_chunks_mut(per * d.channels)
        .enumerate()
        .for_each(|(i, out)| {
            let sums = match sums {
                Sums::Gradient { mean, dy, y } => Sums::Gradient {
                    mean,
                    dy: &dy[start(i)..],
                    y: y.map(|y| &y[start(i)..]),
                },
                other => other,
            };
            vectorised(SumsBlock {
                d,
                x: &x[start(i)..],
                sums,
                out,
            })
        });
    out
}

/// [`plane_sums`] over one block of samples: `x` (and `dy`, `y`) start at its first sample.
struct SumsBlock<'a> {
    d: &'a NormDims,
    x: &'a [f32],
    sums: Sums<'a>,
    out: &'a mut [[f64; 2]],
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
                Sums::Values => [sum(v, xs, |x| x, |x| x), 0.0],
                Sums::Squares { mean } => {
                    let (m, ms) = (mean[c], v.splat(mean[c]));
                    let sq = sum(
                        v,
                        xs,
                        |x| {
                            let e = v.sub(x, ms);
                            v.mul(e, e)
                        },
                        |x| (x - m) * (x - m),
                    );
                    [sq, 0.0]
                }
                Sums::Gradient { mean, dy, y } => gradient_sums(
                    v,
                    xs,
                    &dy[p * n..(p + 1) * n],
                    y.map(|y| &y[p * n..(p + 1) * n]),
                    mean[c],
                ),
            };
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

/// `g` where the ReLU let the value through (`y > 0`), zero elsewhere; `dy` without a ReLU.
#[inline(always)]
fn masked<S: Simd>(v: Lanes<S>, dy: S::f32s, y: Option<S::f32s>) -> S::f32s {
    match y {
        Some(y) => {
            let s = v.0;
            s.select_f32s(
                s.greater_than_f32s(y, s.splat_f32s(0.0)),
                dy,
                s.splat_f32s(0.0),
            )
        }
        None => dy,
    }
}

fn masked_scalar(dy: f32, y: Option<f32>) -> f32 {
    match y {
        Some(y) if y <= 0.0 => 0.0,
        _ => dy,
    }
}

/// `[sum g, sum g (x - mean)]` over one plane.
#[inline(always)]
fn gradient_sums<S: Simd>(
    v: Lanes<S>,
    xs: &[f32],
    dy: &[f32],
    y: Option<&[f32]>,
    mean: f32,
) -> [f64; 2] {
    let n = Lanes::<S>::N;
    let whole = xs.len() / n * n;
    let ms = v.splat(mean);
    let (mut g_acc, mut gx_acc) = (v.splat(0.0), v.splat(0.0));
    let mut i = 0;
    while i < whole {
        let g = masked(v, v.load(dy, i), y.map(|y| v.load(y, i)));
        g_acc = v.add(g_acc, g);
        gx_acc = v.mul_add(g, v.sub(v.load(xs, i), ms), gx_acc);
        i += n;
    }
    let mut sums = [
        v.0.reduce_sum_f32s(g_acc) as f64,
        v.0.reduce_sum_f32s(gx_acc) as f64,
    ];
    for j in whole..xs.len() {
        let g = masked_scalar(dy[j], y.map(|y| y[j]));
        sums[0] += g as f64;
        sums[1] += (g * (xs[j] - mean)) as f64;
    }
    sums
}

/// Per channel, the planes' sums added over the batch in sample order.
fn per_channel(d: &NormDims, sums: &[[f64; 2]], which: usize) -> Vec<f64> {
    let mut total = vec![0.0; d.channels];
    for sample in sums.chunks_exact(d.channels.max(1)) {
        for (t, s) in total.iter_mut().zip(sample) {
            *t += s[which];
        }
    }
    total
}

/// The batch's statistics per channel.
pub fn statistics(d: &NormDims, x: &[f32]) -> Statistics {
    assert_eq!(x.len(), d.len(), "batch norm input");
    let count = d.count();
    let mean: Vec<f32> = per_channel(d, &plane_sums(d, x, Sums::Values), 0)
        .into_iter()
        .map(|s| (s / count) as f32)
        .collect();
    let squares = plane_sums(d, x, Sums::Squares { mean: &mean });
    let variance = per_channel(d, &squares, 0)
        .into_iter()
        .map(|s| (s / count) as f32)
        .collect();
    Statistics { mean, variance }
}

/// `x [batch, channels, inner]` normalised with the batch's statistics, scaled by `gamma`,
/// shifted by `beta`, and through a ReLU when `relu`; the statistics with it.
pub fn forward(
    d: &NormDims,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
    relu: bool,
) -> (Vec<f32>, Statistics) {
    assert_eq!(gamma.len(), d.channels, "batch norm gamma");
    assert_eq!(beta.len(), d.channels, "batch norm beta");
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
                mean: &stats.mean,
                scale: &scale,
                shift: beta,
                relu,
                out,
            })
        });
    (out, stats)
}

/// `out = (x - mean) * scale + shift` per channel, through a ReLU when `relu`.
struct AffineBlock<'a> {
    d: &'a NormDims,
    x: &'a [f32],
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
            let (m, a, b) = (v.splat(mean[c]), v.splat(scale[c]), v.splat(shift[c]));
            let mut i = 0;
            while i < whole {
                let y = v.mul_add(v.sub(v.load(xs, i), m), a, b);
                v.store(ys, i, if relu { v.0.max_f32s(y, zero) } else { y });
                i += lanes;
            }
            for j in whole..n {
                let y = (xs[j] - mean[c]) * scale[c] + shift[c];
                ys[j] = if relu { y.max(0.0) } else { y };
            }
        }
    }
}

/// The gradients of `x`, `gamma` and `beta` (those `needed`) from the output's, `dy`. `y` is
/// the forward pass's output where it went through a ReLU, whose gradient is taken here too.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn backward(
    d: &NormDims,
    x: &[f32],
    gamma: &[f32],
    stats: &Statistics,
    epsilon: f64,
    y: Option<&[f32]>,
    dy: &[f32],
    needed: Needed,
) -> (Option<Vec<f32>>, Option<Vec<f32>>, Option<Vec<f32>>) {
    assert_eq!(x.len(), d.len(), "batch norm input");
    assert_eq!(dy.len(), d.len(), "batch norm output gradient");
    let inv: Vec<f32> = stats
        .variance
        .iter()
        .map(|var| inv_std(*var, epsilon))
        .collect();
    let sums = plane_sums(
        d,
        x,
        Sums::Gradient {
            mean: &stats.mean,
            dy,
            y,
        },
    );
    let dbeta = per_channel(d, &sums, 0);
    let dgamma: Vec<f64> = per_channel(d, &sums, 1)
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
                        dy: &dy[at(i)..],
                        y: y.map(|y| &y[at(i)..]),
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
    (
        dx,
        needed.w.then(|| narrow(dgamma)),
        needed.bias.then(|| narrow(dbeta)),
    )
}

/// `dx = scale (g - offset - (x - mean) slope)` per channel.
struct InputGradBlock<'a> {
    d: &'a NormDims,
    x: &'a [f32],
    dy: &'a [f32],
    y: Option<&'a [f32]>,
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
            dy,
            y,
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
            let (xs, gs, ys) = (&x[at.clone()], &dy[at.clone()], y.map(|y| &y[at]));
            let (m, k, o, s) = (
                v.splat(mean[c]),
                v.splat(scale[c]),
                v.splat(offset[c]),
                v.splat(slope[c]),
            );
            let mut i = 0;
            while i < whole {
                let g = masked(v, v.load(gs, i), ys.map(|y| v.load(y, i)));
                let centred = v.sub(v.load(xs, i), m);
                // g - offset - centred * slope
                let inner = v.sub(v.sub(g, o), v.mul(centred, s));
                v.store(out, i, v.mul(k, inner));
                i += lanes;
            }
            for j in whole..n {
                let g = masked_scalar(gs[j], ys.map(|y| y[j]));
                out[j] = scale[c] * (g - offset[c] - (xs[j] - mean[c]) * slope[c]);
            }
        }
    }
}
