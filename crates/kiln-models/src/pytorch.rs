//! PyTorch twins of the classifiers: a model's weights under the names and in the layouts of
//! a `torch.nn` module with the same architecture, and that module's Python source, so that
//! `model.load_state_dict(...)` in PyTorch takes kiln's weights as they are.
//!
//! Each model writes its own twin (`Mlp::pytorch`, `Cnn::pytorch`,
//! `RecurrentClassifier::pytorch`) from its layers alone, not from its config, so the twin is
//! of the weights actually loaded. The layouts that differ: burn keeps a linear weight as
//! `[in, out]`, PyTorch as `[out, in]`; burn's batch norm calls PyTorch's `weight`/`bias`
//! `gamma`/`beta` and has no `num_batches_tracked`; kiln's recurrent cells keep a layer's
//! input and hidden projections as two linears whose gate blocks are already in PyTorch's
//! order (`[i, f, g, o]`, `[r, z, n]`).

use burn::module::Param;
use burn::nn::activation::Activation;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::nn::{BatchNorm, Dropout, Linear, PaddingConfig2d};
use burn::tensor::Tensor;

use crate::Invalid;

/// A tensor's values as PyTorch will hold them.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    F32(Vec<f32>),
    /// `num_batches_tracked` of a batch norm, and token ids.
    I64(Vec<i64>),
}

/// One entry of a PyTorch `state_dict`.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Values,
}

/// A classifier as PyTorch sees it.
#[derive(Debug, Clone)]
pub struct Twin {
    /// The `state_dict` of [`Twin::source`]'s `Model()`, in its order.
    pub tensors: Vec<Named>,
    /// Python defining `class Model(torch.nn.Module)`; it needs `torch` and `nn` imported.
    pub source: String,
}

/// Collects the state dict and the Python lines of a module as a model walks its layers.
#[derive(Default)]
pub(crate) struct TwinBuilder {
    pub tensors: Vec<Named>,
}

impl TwinBuilder {
    pub fn float<const D: usize>(&mut self, name: impl Into<String>, tensor: Tensor<D>) {
        let shape = tensor.dims().to_vec();
        let values = tensor
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 values after a conversion");
        self.tensors.push(Named {
            name: name.into(),
            shape,
            values: Values::F32(values),
        });
    }

    /// burn's `[in, out]` weight as PyTorch's `[out, in]`, and the bias (zeros if none, as
    /// the twin always has one).
    pub fn linear(&mut self, prefix: &str, linear: &Linear) -> String {
        let [inputs, outputs] = linear.weight.dims();
        self.linear_as(format!("{prefix}.weight"), format!("{prefix}.bias"), linear);
        format!("nn.Linear({inputs}, {outputs})")
    }

    /// [`TwinBuilder::linear`] under other names, e.g. a recurrent layer's `weight_ih_l0`.
    pub fn linear_as(&mut self, weight: String, bias: String, linear: &Linear) {
        let outputs = linear.weight.dims()[1];
        self.float(weight, linear.weight.val().transpose());
        self.bias(bias, linear.bias.as_ref(), outputs, &linear.weight);
    }

    fn bias<const D: usize>(
        &mut self,
        name: String,
        bias: Option<&Param<Tensor<1>>>,
        size: usize,
        weight: &Param<Tensor<D>>,
    ) {
        let bias = match bias {
            Some(b) => b.val(),
            None => Tensor::zeros([size], &weight.val().device()),
        };
        self.float(name, bias);
    }

    /// `dims` is 1 after a linear layer, 2 after a convolution.
    pub fn batch_norm(&mut self, prefix: &str, norm: &BatchNorm, dims: usize) -> String {
        let features = norm.gamma.val().dims()[0];
        self.float(format!("{prefix}.weight"), norm.gamma.val());
        self.float(format!("{prefix}.bias"), norm.beta.val());
        self.float(
            format!("{prefix}.running_mean"),
            norm.running_mean.value_sync(),
        );
        self.float(
            format!("{prefix}.running_var"),
            norm.running_var.value_sync(),
        );
        // PyTorch uses it only when momentum is None; load_state_dict wants it present.
        self.tensors.push(Named {
            name: format!("{prefix}.num_batches_tracked"),
            shape: Vec::new(),
            values: Values::I64(vec![0]),
        });
        format!(
            "nn.BatchNorm{dims}d({features}, eps={}, momentum={})",
            python_float(norm.epsilon),
            python_float(norm.momentum)
        )
    }

    pub fn conv2d(&mut self, prefix: &str, conv: &Conv2d) -> Result<String, Invalid> {
        let weight = conv.weight.val();
        let [outputs, inputs_per_group, kh, kw] = weight.dims();
        let padding = match conv.padding {
            PaddingConfig2d::Valid => "0".to_string(),
            PaddingConfig2d::Explicit(top, left, bottom, right)
                if top == bottom && left == right =>
            {
                format!("({top}, {left})")
            }
            ref other => {
                return Err(Invalid::new(
                    prefix,
                    format!("padding {other:?} has no nn.Conv2d equivalent"),
                ));
            }
        };
        self.float(format!("{prefix}.weight"), weight);
        self.bias(
            format!("{prefix}.bias"),
            conv.bias.as_ref(),
            outputs,
            &conv.weight,
        );
        Ok(format!(
            "nn.Conv2d({}, {outputs}, ({kh}, {kw}), stride=({}, {}), padding={padding}, \
             dilation=({}, {}), groups={})",
            inputs_per_group * conv.groups,
            conv.stride[0],
            conv.stride[1],
            conv.dilation[0],
            conv.dilation[1],
            conv.groups
        ))
    }
}

pub(crate) fn max_pool2d(prefix: &str, pool: &MaxPool2d) -> Result<String, Invalid> {
    let padding = match pool.padding {
        PaddingConfig2d::Valid => (0, 0),
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            (top, left)
        }
        ref other => {
            return Err(Invalid::new(
                prefix,
                format!("padding {other:?} has no nn.MaxPool2d equivalent"),
            ));
        }
    };
    let [kh, kw] = pool.kernel_size;
    let [sh, sw] = pool.stride;
    let [dh, dw] = pool.dilation;
    Ok(format!(
        "nn.MaxPool2d(({kh}, {kw}), stride=({sh}, {sw}), padding={padding:?}, \
         dilation=({dh}, {dw}), ceil_mode={})",
        if pool.ceil_mode { "True" } else { "False" }
    ))
}

pub(crate) fn activation(prefix: &str, activation: &Activation) -> Result<String, Invalid> {
    Ok(match activation {
        Activation::Relu(_) => "nn.ReLU()".into(),
        Activation::LeakyRelu(l) => format!("nn.LeakyReLU({})", python_float(l.negative_slope)),
        Activation::Sigmoid(_) => "nn.Sigmoid()".into(),
        Activation::Tanh(_) => "nn.Tanh()".into(),
        Activation::Gelu(g) if g.approximate => "nn.GELU(approximate=\"tanh\")".into(),
        Activation::Gelu(_) => "nn.GELU()".into(),
        Activation::Identity(_) => "nn.Identity()".into(),
        other => {
            return Err(Invalid::new(
                prefix,
                format!("no PyTorch twin written for the activation {other:?}"),
            ));
        }
    })
}

pub(crate) fn dropout(dropout: &Dropout) -> String {
    format!("nn.Dropout({})", python_float(dropout.prob))
}

/// A float as Python source that reads back to the same f64.
pub(crate) fn python_float(v: f64) -> String {
    let s = format!("{v:?}");
    if s.contains(['.', 'e', 'n', 'i']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// `class Model` holding an `nn.Sequential` of `layers` under `name`, for the image models.
pub(crate) fn sequential_model(doc: &str, layers: &[String]) -> String {
    let mut s = String::new();
    s.push_str("class Model(nn.Module):\n");
    s.push_str(&format!("    \"\"\"{doc}\"\"\"\n\n"));
    s.push_str("    def __init__(self):\n        super().__init__()\n");
    s.push_str("        self.layers = nn.Sequential(\n");
    for l in layers {
        s.push_str(&format!("            {l},\n"));
    }
    s.push_str("        )\n\n");
    s.push_str("    def forward(self, images):\n");
    s.push_str("        \"\"\"`[batch, channels, height, width]` normalised images to `[batch, classes]` logits.\"\"\"\n");
    s.push_str("        return self.layers(images)\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_back_in_python() {
        assert_eq!(python_float(0.1), "0.1");
        assert_eq!(python_float(1.0), "1.0");
        assert_eq!(python_float(1e-5), "1e-5");
        assert_eq!(python_float(0.0), "0.0");
    }
}
