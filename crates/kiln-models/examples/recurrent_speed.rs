//! The measurement behind kiln's own recurrent cells: one training step (forward and
//! backward, max pooling over time) of burn's `Lstm` and of kiln's LSTM `Cell`, batch 64,
//! input 128, hidden 128, at 200 and 400 steps.
//!
//!     cargo run --release -p kiln-models --example recurrent_speed
use std::time::Instant;

use burn::module::Module;
use burn::nn::LstmConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Tensor};
use kiln_models::CellKind;
use kiln_models::cells::Cell;

/// Seconds for one forward and backward pass of `forward` over `x`.
fn step_seconds<M: Module>(
    model: &M,
    x: Tensor<3>,
    forward: impl Fn(&M, Tensor<3>) -> Tensor<3>,
) -> f64 {
    let start = Instant::now();
    let loss = forward(model, x).max_dim(1).sum();
    let _grads = GradientsParams::from_grads(loss.backward(), model);
    start.elapsed().as_secs_f64()
}

fn main() {
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let (b, d, h) = (64, 128, 128);
    let burn_lstm = LstmConfig::new(d, h, true).init(&device).fork(&ad).train();
    let kiln_lstm = Cell::new(CellKind::Lstm, d, h, &device).fork(&ad).train();
    for t in [200, 400] {
        // The first round warms up allocators and caches.
        for round in 0..3 {
            let x = Tensor::<3>::random([b, t, d], Distribution::Default, &ad);
            let burn_s = step_seconds(&burn_lstm, x.clone(), |m, x| m.forward(x, None).0);
            let kiln_s = step_seconds(&kiln_lstm, x, |m, x| m.forward(x));
            if round > 0 {
                println!(
                    "T={t}: burn Lstm {:.0} samples/s, kiln Cell {:.0} samples/s",
                    b as f64 / burn_s,
                    b as f64 / kiln_s
                );
            }
        }
    }
}
