//! The recurrent layers' forward and backward passes through time on plain `f32` slices.
//!
//! Shapes (row-major): `xp [B, T, G*H]` the input projection of every step with its bias,
//! `w [H, G*H]` the hidden weight (burn's `Linear` layout, `h @ w`), `bias [G*H]` the hidden
//! bias, `h0`, `c0 [B, H]`. Gates are in PyTorch's order (`i f g o`, `r z n`).
//!
//! The sequences of a batch are independent, so the batch is cut into one block of rows per
//! thread and each block runs the whole time loop alone: no synchronisation per step.
//! Memory traffic, not arithmetic, is what the element-wise work costs, so buffers are reused
//! in place: the forward pass turns `xp` into the activated gates that the backward pass
//! needs (the LSTM adds `h @ w` into `xp` inside the matrix product), and the backward pass
//! turns those gates into the gradient of `xp`.

use rayon::prelude::*;

use pulp::Simd;

use crate::activation::{Lanes, Vectorised, vectorised};
use crate::flex::zeros;
use crate::gemm::{MatMut, MatRef, matmul};
use crate::packed::{Packed, product};

/// The cell's equations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Elman RNN with tanh.
    Rnn,
    Lstm,
    Gru,
}

impl Kind {
    /// Gate blocks in the stacked weights.
    pub fn gates(self) -> usize {
        match self {
            Kind::Rnn => 1,
            Kind::Lstm => 4,
            Kind::Gru => 3,
        }
    }
}

/// The sizes of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub kind: Kind,
    pub batch: usize,
    pub time: usize,
    pub hidden: usize,
}

impl Dims {
    fn gh(&self) -> usize {
        self.kind.gates() * self.hidden
    }

    /// Steps per sequence in the output buffer: one more, holding the final cell state, when
    /// it is asked for.
    fn out_steps(&self, final_cell: bool) -> usize {
        self.time + usize::from(final_cell)
    }

    /// Whether the cell keeps one `H`-wide row per step besides its gates: the LSTM's cell
    /// states, the GRU's `W_hn h + b_hn` (which the reset gate multiplies).
    fn has_aux(&self) -> bool {
        self.kind != Kind::Rnn
    }
}

/// The forward pass's results: `out [B, T (+1), H]`, and what the backward pass needs.
#[derive(Debug, Clone)]
pub struct Forward {
    pub out: Vec<f32>,
    /// `[B, T, G*H]`: the activated gates (`xp`'s buffer). The RNN's hold nothing useful:
    /// its derivative comes from `out`.
    pub gates: Vec<f32>,
    /// `[B, T, H]` (see [`Dims::has_aux`]); empty when nothing was kept.
    pub aux: Vec<f32>,
}

/// Gradients with respect to each input of the forward pass.
#[derive(Debug, Clone)]
pub struct Grads {
    pub xp: Vec<f32>,
    pub w: Vec<f32>,
    pub bias: Vec<f32>,
    pub h0: Vec<f32>,
    pub c0: Vec<f32>,
}

/// Rows per block: the batch split over rayon's threads, in blocks of at least 4 rows.
fn rows_per_block(batch: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    batch.div_ceil(threads).max(4).min(batch.max(1))
}

/// Runs the layer over the whole sequence, overwriting `xp`. With `save`, keeps what
/// [`backward`] needs; with `final_cell`, step `T` of `out` is the LSTM's last cell state (for
/// the other cells, `c0`).
#[allow(clippy::too_many_arguments)]
pub fn forward(
    d: Dims,
    mut xp: Vec<f32>,
    w: &[f32],
    bias: &[f32],
    h0: &[f32],
    c0: &[f32],
    save: bool,
    final_cell: bool,
) -> Forward {
    let (b, t, h, gh) = (d.batch, d.time, d.hidden, d.gh());
    assert_eq!(xp.len(), b * t * gh, "xp");
    assert_eq!(w.len(), h * gh, "w");
    assert_eq!(bias.len(), gh, "bias");
    assert_eq!(h0.len(), b * h, "h0");
    assert_eq!(c0.len(), b * h, "c0");
    let steps = d.out_steps(final_cell);
    let mut out = zeros(b * steps * h);
    let mut aux = zeros(if save && d.has_aux() { b * t * h } else { 0 });
    if b == 0 || t == 0 {
        // No step: the state passes through.
        if final_cell {
            for r in 0..b {
                out[r * h..][..h].copy_from_slice(&c0[r * h..][..h]);
            }
        }
        return Forward {
            out,
            gates: xp,
            aux,
        };
    }
    let rows = rows_per_block(b);
    let blocks: Vec<_> = out
        .chunks_mut(rows * steps * h)
        .zip(xp.chunks_mut(rows * t * gh))
        .zip(split_mut(&mut aux, rows * t * h, b.div_ceil(rows)))
        .enumerate()
        .collect();
    blocks.into_par_iter().for_each(|(i, ((out, gates), aux))| {
        let r0 = i * rows;
        let n = out.len() / (steps * h);
        let block = Block {
            d: Dims { batch: n, ..d },
            steps,
            w,
            bias,
            h0: &h0[r0 * h..(r0 + n) * h],
            c0: &c0[r0 * h..(r0 + n) * h],
        };
        vectorised(ForwardWork {
            block: &block,
            out,
            gates,
            aux,
            final_cell,
        });
    });
    Forward {
        out,
        gates: xp,
        aux,
    }
}

/// Backpropagation through time. `dout` is the gradient of `out` (same shape, the final cell
/// state's included when the forward pass had it); `out`, `gates` and `aux` are what the
/// forward pass kept ([`Forward`]), and `gates` becomes the gradient of `xp`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    d: Dims,
    w: &[f32],
    h0: &[f32],
    c0: &[f32],
    out: &[f32],
    gates: Vec<f32>,
    aux: &[f32],
    dout: &[f32],
    final_cell: bool,
) -> Grads {
    let (b, t, h, gh) = (d.batch, d.time, d.hidden, d.gh());
    let steps = d.out_steps(final_cell);
    assert_eq!(dout.len(), b * steps * h, "dout");
    assert_eq!(out.len(), b * steps * h, "out");
    assert_eq!(gates.len(), b * t * gh, "gates");
    let mut dxp = gates;
    // The GRU's gradient reaching `h @ w + bias` differs from the input projection's in the
    // candidate block (the reset gate scales it); for the others they are the same.
    let mut dhp_gru = zeros(if d.kind == Kind::Gru { b * t * gh } else { 0 });
    let mut dh0 = vec![0.0; b * h];
    let mut dc0 = vec![0.0; b * h];
    if b == 0 || t == 0 {
        // Nothing happened: the state passed through (the final cell state too).
        if final_cell {
            for r in 0..b {
                dc0[r * h..(r + 1) * h].copy_from_slice(&dout[(r * steps + t) * h..][..h]);
            }
        }
        return Grads {
            xp: dxp,
            w: vec![0.0; h * gh],
            bias: vec![0.0; gh],
            h0: dh0,
            c0: dc0,
        };
    }
    assert_eq!(aux.len(), if d.has_aux() { b * t * h } else { 0 }, "aux");
    let rows = rows_per_block(b);
    let nblocks = b.div_ceil(rows);
    let blocks: Vec<_> = dxp
        .chunks_mut(rows * t * gh)
        .zip(split_mut(&mut dhp_gru, rows * t * gh, nblocks))
        .zip(dh0.chunks_mut(rows * h))
        .zip(dc0.chunks_mut(rows * h))
        .enumerate()
        .collect();
    let partial: Vec<(Vec<f32>, Vec<f32>)> = blocks
        .into_par_iter()
        .map(|(i, (((gates, dhp_gru), dh0), dc0))| {
            let r0 = i * rows;
            let n = dh0.len() / h;
            let block = Block {
                d: Dims { batch: n, ..d },
                steps,
                w,
                bias: &[],
                h0: &h0[r0 * h..(r0 + n) * h],
                c0: &c0[r0 * h..(r0 + n) * h],
            };
            vectorised(BackwardWork {
                block: &block,
                out: &out[r0 * steps * h..(r0 + n) * steps * h],
                aux: if aux.is_empty() {
                    &[]
                } else {
                    &aux[r0 * t * h..(r0 + n) * t * h]
                },
                dout: &dout[r0 * steps * h..(r0 + n) * steps * h],
                final_cell,
                gates,
                dhp_gru,
                dh0,
                dc0,
            })
        })
        .collect();
    let mut dw = vec![0.0; h * gh];
    let mut db = vec![0.0; gh];
    for (pw, pb) in partial {
        add(&mut dw, &pw);
        add(&mut db, &pb);
    }
    Grads {
        xp: dxp,
        w: dw,
        bias: db,
        h0: dh0,
        c0: dc0,
    }
}

fn add(acc: &mut [f32], x: &[f32]) {
    for (a, v) in acc.iter_mut().zip(x) {
        *a += v;
    }
}

/// `n` consecutive chunks of `size` values of `v` (empty ones when `v` is empty), so that
/// optional buffers zip with the required ones.
fn split_mut(v: &mut [f32], size: usize, n: usize) -> Vec<&mut [f32]> {
    if v.is_empty() || size == 0 {
        return (0..n).map(|_| <&mut [f32]>::default()).collect();
    }
    v.chunks_mut(size).collect()
}

struct ForwardWork<'a, 'b> {
    block: &'a Block<'b>,
    out: &'a mut [f32],
    gates: &'a mut [f32],
    aux: &'a mut [f32],
    final_cell: bool,
}

impl Vectorised for ForwardWork<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn run<S: Simd>(self, v: Lanes<S>) {
        self.block
            .forward(v, self.out, self.gates, self.aux, self.final_cell);
    }
}

struct BackwardWork<'a, 'b> {
    block: &'a Block<'b>,
    out: &'a [f32],
    aux: &'a [f32],
    dout: &'a [f32],
    final_cell: bool,
    gates: &'a mut [f32],
    dhp_gru: &'a mut [f32],
    dh0: &'a mut [f32],
    dc0: &'a mut [f32],
}

impl Vectorised for BackwardWork<'_, '_> {
    /// This block's share of the weight and bias gradients.
    type Output = (Vec<f32>, Vec<f32>);

    #[inline(always)]
    fn run<S: Simd>(self, v: Lanes<S>) -> Self::Output {
        let b = self.block;
        b.backward(
            v,
            self.out,
            self.aux,
            self.dout,
            self.final_cell,
            self.gates,
            self.dhp_gru,
            self.dh0,
            self.dc0,
        );
        let dhp: &[f32] = if self.dhp_gru.is_empty() {
            self.gates
        } else {
            self.dhp_gru
        };
        b.weight_grads(self.out, dhp)
    }
}

/// One block of rows: the inputs of its sequences.
struct Block<'a> {
    d: Dims,
    /// Steps per sequence in `out` (T, or T + 1 with the final cell state).
    steps: usize,
    w: &'a [f32],
    bias: &'a [f32],
    h0: &'a [f32],
    c0: &'a [f32],
}

impl Block<'_> {
    /// The time loop over this block's rows: a running state `[n, H]` (and the LSTM's cell
    /// state), one product with `w` per step, then the gates row by row, in place in `gates`
    /// (which holds `xp` on entry).
    #[inline(always)]
    fn forward<S: Simd>(
        &self,
        v: Lanes<S>,
        out: &mut [f32],
        gates: &mut [f32],
        aux: &mut [f32],
        final_cell: bool,
    ) {
        let Dims {
            kind,
            batch: n,
            time: t,
            hidden: h,
        } = self.d;
        let (gh, steps) = (self.d.gh(), self.steps);
        let mut hs = self.h0.to_vec();
        let mut cs = self.c0.to_vec();
        // The GRU's `h @ w`, kept apart from `xp` because the reset gate scales its candidate
        // block; the LSTM and RNN add it straight into `xp`.
        let mut hp = vec![0.0f32; if kind == Kind::Gru { n * gh } else { 0 }];
        let mut scratch = vec![0.0f32; h];
        let w = Packed::rows(self.w, h, gh, Lanes::<S>::N);
        for s in 0..t {
            if kind == Kind::Gru {
                product(v, &mut hp, gh, &hs, h, n, &w, false);
            } else {
                product(v, &mut gates[s * gh..], t * gh, &hs, h, n, &w, true);
            }
            for r in 0..n {
                let g = &mut gates[(r * t + s) * gh..][..gh];
                let state = &mut hs[r * h..][..h];
                let a: &mut [f32] = if aux.is_empty() {
                    &mut scratch
                } else {
                    &mut aux[(r * t + s) * h..][..h]
                };
                match kind {
                    Kind::Rnn => rnn_row(v, g, self.bias, state),
                    Kind::Lstm => {
                        let c = &mut cs[r * h..][..h];
                        lstm_row(v, g, self.bias, c, state);
                        a.copy_from_slice(c);
                    }
                    Kind::Gru => gru_row(v, g, &hp[r * gh..][..gh], self.bias, state, a),
                }
                out[(r * steps + s) * h..][..h].copy_from_slice(state);
            }
        }
        if final_cell {
            for r in 0..n {
                out[(r * steps + t) * h..][..h].copy_from_slice(&cs[r * h..][..h]);
            }
        }
    }

    /// Backpropagation through time over this block's rows, turning every step's `gates`
    /// into their pre-activation gradients (`dhp` too for the GRU) and writing the initial
    /// state's gradient.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn backward<S: Simd>(
        &self,
        v: Lanes<S>,
        out: &[f32],
        aux: &[f32],
        dout: &[f32],
        final_cell: bool,
        gates: &mut [f32],
        dhp: &mut [f32],
        dh0: &mut [f32],
        dc0: &mut [f32],
    ) {
        let Dims {
            kind,
            batch: n,
            time: t,
            hidden: h,
        } = self.d;
        let (gh, steps) = (self.d.gh(), self.steps);
        // The gradient reaching each step's output from the next step, and the cell state's.
        let mut dnext = vec![0.0f32; n * h];
        let mut dc = vec![0.0f32; n * h];
        // The final cell state's gradient; for the RNN and GRU it passes straight to `c0`.
        if final_cell {
            for r in 0..n {
                dc[r * h..][..h].copy_from_slice(&dout[(r * steps + t) * h..][..h]);
            }
        }
        let mut dh = vec![0.0f32; h];
        let wt = Packed::transposed(self.w, h, gh, Lanes::<S>::N);
        for s in (0..t).rev() {
            for r in 0..n {
                let dn = &mut dnext[r * h..][..h];
                let go = &dout[(r * steps + s) * h..][..h];
                let mut j = 0;
                while j < h {
                    v.store(&mut dh, j, v.flush(v.add(v.load(go, j), v.load(dn, j))));
                    j += Lanes::<S>::N;
                }
                let g = &mut gates[(r * t + s) * gh..][..gh];
                match kind {
                    Kind::Rnn => {
                        let y = &out[(r * steps + s) * h..][..h];
                        rnn_row_backward(v, &dh, y, g);
                    }
                    Kind::Lstm => {
                        let c = &aux[(r * t + s) * h..][..h];
                        let c_prev = if s == 0 {
                            &self.c0[r * h..][..h]
                        } else {
                            &aux[(r * t + s - 1) * h..][..h]
                        };
                        lstm_row_backward(v, &dh, c, c_prev, &mut dc[r * h..][..h], g);
                    }
                    Kind::Gru => {
                        let hn = &aux[(r * t + s) * h..][..h];
                        let h_prev = if s == 0 {
                            &self.h0[r * h..][..h]
                        } else {
                            &out[(r * steps + s - 1) * h..][..h]
                        };
                        let gp = &mut dhp[(r * t + s) * gh..][..gh];
                        gru_row_backward(v, &dh, hn, h_prev, g, gp, dn);
                    }
                }
            }
            // dnext = (the GRU's direct term) + dgates_s @ w^T.
            let dgates: &[f32] = if kind == Kind::Gru { dhp } else { gates };
            product(
                v,
                &mut dnext,
                h,
                &dgates[s * gh..],
                t * gh,
                n,
                &wt,
                kind == Kind::Gru,
            );
        }
        dh0.copy_from_slice(&dnext);
        dc0.copy_from_slice(&dc);
    }

    /// This block's share of the hidden weight's and bias's gradients: `prev^T @ dgates` over
    /// every (row, step), and the gates' column sums.
    #[inline(always)]
    fn weight_grads(&self, out: &[f32], dgates: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let Dims {
            batch: n,
            time: t,
            hidden: h,
            ..
        } = self.d;
        let (gh, steps) = (self.d.gh(), self.steps);
        // The state each step started from, as rows `[n * t, H]`.
        let mut prev = vec![0.0f32; n * t * h];
        for r in 0..n {
            let rows = &mut prev[r * t * h..(r + 1) * t * h];
            rows[..h].copy_from_slice(&self.h0[r * h..][..h]);
            rows[h..].copy_from_slice(&out[r * steps * h..][..(t - 1) * h]);
        }
        let mut dw = vec![0.0f32; h * gh];
        matmul(
            MatMut::new(&mut dw, h, gh),
            MatRef::new(&prev, n * t, h).t(),
            MatRef::new(dgates, n * t, gh),
            false,
            false,
        );
        let mut db = vec![0.0f32; gh];
        for row in dgates.chunks_exact(gh) {
            for (b, g) in db.iter_mut().zip(row) {
                *b += g;
            }
        }
        (dw, db)
    }
}

/// `h = tanh(g + b)`, where `g` holds `x + h_prev @ w`; `g` keeps nothing the backward pass
/// reads (the derivative comes from the output).
#[inline(always)]
fn rnn_row<S: Simd>(v: Lanes<S>, g: &[f32], b: &[f32], state: &mut [f32]) {
    let mut j = 0;
    while j < state.len() {
        let y = v.tanh(v.add(v.load(g, j), v.load(b, j)));
        v.store(state, j, y);
        j += Lanes::<S>::N;
    }
}

#[inline(always)]
fn rnn_row_backward<S: Simd>(v: Lanes<S>, dh: &[f32], y: &[f32], g: &mut [f32]) {
    let mut j = 0;
    while j < g.len() {
        let y = v.load(y, j);
        let d = v.mul(v.load(dh, j), v.one_minus(v.mul(y, y)));
        v.store(g, j, v.flush(d));
        j += Lanes::<S>::N;
    }
}

/// The four `h`-wide blocks of a gate row.
#[inline(always)]
fn blocks4(v: &[f32], h: usize) -> (&[f32], &[f32], &[f32], &[f32]) {
    (&v[..h], &v[h..2 * h], &v[2 * h..3 * h], &v[3 * h..4 * h])
}

#[inline(always)]
fn blocks3(v: &[f32], h: usize) -> (&[f32], &[f32], &[f32]) {
    (&v[..h], &v[h..2 * h], &v[2 * h..3 * h])
}

#[inline(always)]
fn blocks4_mut(v: &mut [f32], h: usize) -> [&mut [f32]; 4] {
    let (a, rest) = v.split_at_mut(h);
    let (b, rest) = rest.split_at_mut(h);
    let (c, d) = rest.split_at_mut(h);
    [a, b, c, &mut d[..h]]
}

#[inline(always)]
fn blocks3_mut(v: &mut [f32], h: usize) -> [&mut [f32]; 3] {
    let (a, rest) = v.split_at_mut(h);
    let (b, c) = rest.split_at_mut(h);
    [a, b, &mut c[..h]]
}

/// One LSTM step of one sequence: `g` holds `x + h_prev @ w` and receives the activated
/// gates `[i, f, g, o]`; `c` holds the previous cell state and receives the new one, `state`
/// the output.
#[inline(always)]
fn lstm_row<S: Simd>(v: Lanes<S>, g: &mut [f32], b: &[f32], c: &mut [f32], state: &mut [f32]) {
    let h = c.len();
    let (bi, bf, bg, bo) = blocks4(b, h);
    let [gi, gf, gg, go] = blocks4_mut(g, h);
    let mut j = 0;
    while j < h {
        let i = v.sigmoid(v.add(v.load(gi, j), v.load(bi, j)));
        let f = v.sigmoid(v.add(v.load(gf, j), v.load(bf, j)));
        let gt = v.tanh(v.add(v.load(gg, j), v.load(bg, j)));
        let o = v.sigmoid(v.add(v.load(go, j), v.load(bo, j)));
        let cn = v.mul_add(f, v.load(c, j), v.mul(i, gt));
        v.store(c, j, cn);
        v.store(state, j, v.mul(o, v.tanh(cn)));
        v.store(gi, j, i);
        v.store(gf, j, f);
        v.store(gg, j, gt);
        v.store(go, j, o);
        j += Lanes::<S>::N;
    }
}

/// `dh` the gradient reaching this step's output, `dc` the cell state's from the next step
/// (replaced by the previous step's); `g` holds the activated gates and receives their
/// pre-activation gradients.
#[inline(always)]
fn lstm_row_backward<S: Simd>(
    v: Lanes<S>,
    dh: &[f32],
    c: &[f32],
    c_prev: &[f32],
    dc: &mut [f32],
    g: &mut [f32],
) {
    let h = dc.len();
    let [gi, gf, gg, go] = blocks4_mut(g, h);
    let mut j = 0;
    while j < h {
        let (i, f, gt, o) = (v.load(gi, j), v.load(gf, j), v.load(gg, j), v.load(go, j));
        let dhj = v.load(dh, j);
        let tc = v.tanh(v.load(c, j));
        // dc_total = dc + dh * o * (1 - tanh(c)^2)
        let dct = v.mul_add(v.mul(dhj, o), v.one_minus(v.mul(tc, tc)), v.load(dc, j));
        let dgo = v.mul(v.mul(dhj, tc), v.mul(o, v.one_minus(o)));
        let dgi = v.mul(v.mul(dct, gt), v.mul(i, v.one_minus(i)));
        let dgf = v.mul(v.mul(dct, v.load(c_prev, j)), v.mul(f, v.one_minus(f)));
        let dgg = v.mul(v.mul(dct, i), v.one_minus(v.mul(gt, gt)));
        v.store(go, j, v.flush(dgo));
        v.store(gi, j, v.flush(dgi));
        v.store(gf, j, v.flush(dgf));
        v.store(gg, j, v.flush(dgg));
        v.store(dc, j, v.flush(v.mul(dct, f)));
        j += Lanes::<S>::N;
    }
}

/// One GRU step (PyTorch's): `r = s(x_r + p_r)`, `z = s(x_z + p_z)`, `n = tanh(x_n + r p_n)`,
/// `h' = (1 - z) n + z h`, where `p = h @ w + b`. `g` holds `x` and receives `[r, z, n]`,
/// `hn` receives `p_n`.
#[inline(always)]
fn gru_row<S: Simd>(
    v: Lanes<S>,
    g: &mut [f32],
    p: &[f32],
    b: &[f32],
    state: &mut [f32],
    hn: &mut [f32],
) {
    let h = state.len();
    let (pr, pz, pn) = blocks3(p, h);
    let (br, bz, bn) = blocks3(b, h);
    let [gr, gz, gn] = blocks3_mut(g, h);
    let mut j = 0;
    while j < h {
        let r = v.sigmoid(v.add(v.load(gr, j), v.add(v.load(pr, j), v.load(br, j))));
        let z = v.sigmoid(v.add(v.load(gz, j), v.add(v.load(pz, j), v.load(bz, j))));
        let pnb = v.add(v.load(pn, j), v.load(bn, j));
        let n = v.tanh(v.mul_add(r, pnb, v.load(gn, j)));
        let prev = v.load(state, j);
        v.store(state, j, v.mul_add(z, v.sub(prev, n), n));
        v.store(gr, j, r);
        v.store(gz, j, z);
        v.store(gn, j, n);
        v.store(hn, j, pnb);
        j += Lanes::<S>::N;
    }
}

/// `g` holds `[r, z, n]` and receives the gradient of the input projection's gates, `gp`
/// receives the hidden one's (the candidate block scaled by `r`), `dnext` the part of the
/// previous output's gradient that does not pass through `w` (`dh * z`).
#[inline(always)]
fn gru_row_backward<S: Simd>(
    v: Lanes<S>,
    dh: &[f32],
    hn: &[f32],
    h_prev: &[f32],
    g: &mut [f32],
    gp: &mut [f32],
    dnext: &mut [f32],
) {
    let h = dnext.len();
    let [gr, gz, gn] = blocks3_mut(g, h);
    let [pr, pz, pn] = blocks3_mut(gp, h);
    let mut j = 0;
    while j < h {
        let (r, z, n) = (v.load(gr, j), v.load(gz, j), v.load(gn, j));
        let dhj = v.load(dh, j);
        let dn = v.mul(dhj, v.one_minus(z));
        let dz = v.mul(dhj, v.sub(v.load(h_prev, j), n));
        let dan = v.mul(dn, v.one_minus(v.mul(n, n)));
        let dar = v.mul(v.mul(dan, v.load(hn, j)), v.mul(r, v.one_minus(r)));
        let daz = v.mul(dz, v.mul(z, v.one_minus(z)));
        let (dar, daz, dan) = (v.flush(dar), v.flush(daz), v.flush(dan));
        v.store(gr, j, dar);
        v.store(gz, j, daz);
        v.store(gn, j, dan);
        v.store(pr, j, dar);
        v.store(pz, j, daz);
        v.store(pn, j, v.flush(v.mul(dan, r)));
        v.store(dnext, j, v.flush(v.mul(dhj, z)));
        j += Lanes::<S>::N;
    }
}
