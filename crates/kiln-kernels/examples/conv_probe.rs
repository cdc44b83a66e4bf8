use burn::tensor::{Device, Distribution, Tensor};
use kiln_kernels::conv::{self, Geometry};
use std::time::Instant;
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
fn main() {
    let device = Device::flex().autodiff();
    let n = Distribution::Normal(0.0, 1.0);
    let x = Tensor::<4>::random([128, 32, 26, 26], n, &device);
    let w = Tensor::<4>::random([64, 32, 3, 3], n, &device).require_grad();
    let b = Tensor::<1>::random([64], n, &device).require_grad();
    let g = Geometry {
        stride: [1, 1],
        padding: [0, 0],
    };
    for i in 0..30 {
        let xi = if i % 2 == 0 {
            x.clone().detach().require_grad()
        } else {
            x.clone().detach()
        };
        let t = Instant::now();
        let y = conv::conv2d(xi, w.clone(), Some(b.clone()), g);
        let f = t.elapsed();
        let _ = y.sum().backward();
        println!(
            "dx {} forward {:?} backward {:?}",
            i % 2 == 0,
            f,
            t.elapsed() - f
        );
    }
}
