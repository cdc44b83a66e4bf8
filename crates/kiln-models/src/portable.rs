//! The same initial weights on every backend.
//!
//! burn initialises a parameter lazily, on the device it first lands on and with that
//! device's random generator, so a seed alone gives different weights on flex, wgpu and tch.
//! kiln initialises on flex, with the seed, and moves the weights: [`materialize`] forces
//! every parameter to exist before the move.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Bool, Int, Tensor};

struct Touch;

impl ModuleVisitor for Touch {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
    fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<D, Int>>) {
        let _ = param.val();
    }
    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<D, Bool>>) {
        let _ = param.val();
    }
}

/// Initialises every parameter of `module` where it was created, now.
pub fn materialize<M: Module>(module: &M) {
    module.visit(&mut Touch);
}

struct Collect(Vec<Vec<f32>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let values = param
            .val()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        self.0.push(values);
    }
}

/// Every float parameter's values, in visiting order: for comparing models across devices.
pub fn float_params<M: Module>(module: &M) -> Vec<Vec<f32>> {
    let mut c = Collect(Vec::new());
    module.visit(&mut c);
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InputShape, ModelConfig};
    use burn::tensor::Device;

    #[test]
    fn materialized_weights_survive_a_move() {
        let config: ModelConfig =
            serde_json::from_str(r#"{"kind": "mlp", "hidden": [8]}"#).unwrap();
        let flex = Device::flex();
        let m = config.init(InputShape::Image([1, 4, 4]), 3, &flex).unwrap();
        materialize(&m);
        let before = float_params(&m);
        assert_eq!(before.len(), 4, "two weights and two biases");
        assert_eq!(before[0].len(), 16 * 8);
        let moved = m.fork(&Device::flex().autodiff());
        assert_eq!(before, float_params(&moved));
    }
}
