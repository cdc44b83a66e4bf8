//! Training steps of the tutorial's char model (two LSTM layers
//! of 128, embedding 64, 65 characters) on batches of 64 windows of 100, with Adam, in
//! characters per second, beside PyTorch 2.9's 51,000 on the same machine.
//!
//!     cargo run --release -p kiln-models --example char_lm_speed
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Int, Tensor};
use kiln_models::{CellKind, LanguageModelConfig};

fn main() {
    let (batch, seq_len, vocab) = (64, 100, 65);
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let mut model = LanguageModelConfig {
        cell: CellKind::Lstm,
        embedding_dim: 64,
        hidden: 128,
        layers: 2,
        dropout: 0.0,
    }
    .init(vocab, &device)
    .expect("a valid config")
    .fork(&ad)
    .train();
    let mut optimizer = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let (warmup, timed) = (3, 10);
    let mut seconds = 0.0;
    for step in 0..warmup + timed {
        let random = |shape: [usize; 2]| {
            Tensor::<2>::random(shape, Distribution::Uniform(0.0, vocab as f64), &ad).int()
        };
        let (inputs, targets): (Tensor<2, Int>, Tensor<2, Int>) =
            (random([batch, seq_len]), random([batch, seq_len]));
        let start = Instant::now();
        let (logits, _) = model.forward(inputs, None);
        let loss = loss_fn.forward(
            logits.reshape([batch * seq_len, vocab]),
            targets.reshape([batch * seq_len]),
        );
        // As the training loop does: the loss is read back every step.
        let _ = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(2e-3, model, grads);
        if step >= warmup {
            seconds += start.elapsed().as_secs_f64();
        }
    }
    println!(
        "kiln char LM (2x LSTM-128, batch 64 x 100): {:.0} characters/s (PyTorch 2.9 here: about 51,000)",
        (timed * batch * seq_len) as f64 / seconds
    );
}
