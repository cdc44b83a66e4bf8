//! Times the fused recurrent layer alone (forward, and forward + backward) on flex, against
//! the composed burn version, for one batch: `cargo run --release -p kiln-kernels --example
//! recurrent_kernel [lstm|gru|rnn] [batch] [time] [hidden]`.
use std::time::Instant;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use burn::tensor::{Device, Distribution, Tensor};
use kiln_kernels::recurrent::{self, Inputs, Kind};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kind = match args.first().map(String::as_str) {
        Some("gru") => Kind::Gru,
        Some("rnn") => Kind::Rnn,
        _ => Kind::Lstm,
    };
    let num = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (b, t, h) = (num(1, 64), num(2, 200), num(3, 128));
    let gh = kind.gates() * h;
    let device = Device::flex().autodiff();
    let u = Distribution::Uniform(-0.1, 0.1);
    let xp = Tensor::<3>::random([b, t, gh], u, &device).require_grad();
    let w = Tensor::<2>::random([h, gh], u, &device).require_grad();
    let bias = Tensor::<1>::random([gh], u, &device).require_grad();
    // As in a model, the projection is a fresh tensor that nothing else holds.
    let inputs = || Inputs {
        kind,
        xp: xp.clone() * 1.0,
        w: w.clone(),
        bias: bias.clone(),
        h0: Tensor::zeros([b, h], &device),
        c0: Tensor::zeros([b, h], &device),
    };
    let flops = 2.0 * (b * t * h * gh) as f64;
    let only_fused = args.get(4).is_some_and(|a| a == "fused");
    for (name, fused) in [("fused", true), ("composed", false)] {
        if only_fused && !fused {
            continue;
        }
        let mut fwd = Vec::new();
        let mut all = Vec::new();
        for _ in 0..if only_fused { 30 } else { 6 } {
            let start = Instant::now();
            let s = if fused {
                recurrent::sequence(inputs(), false)
            } else {
                recurrent::composed(inputs())
            };
            let loss = s.outputs.sum();
            let _ = loss.clone().into_scalar::<f32>();
            fwd.push(start.elapsed().as_secs_f64());
            let _g = loss.backward();
            all.push(start.elapsed().as_secs_f64());
        }
        fwd.sort_by(f64::total_cmp);
        all.sort_by(f64::total_cmp);
        let (f, a) = (fwd[fwd.len() / 2], all[all.len() / 2]);
        println!(
            "{kind:?} {name}: forward {:.1} ms ({:.0} GFLOP/s of h@w), forward+backward {:.1} ms ({:.0} GFLOP/s), {:.0} sequences/s",
            f * 1e3,
            flops / f / 1e9,
            a * 1e3,
            3.0 * flops / a / 1e9,
            b as f64 / a
        );
    }
}
