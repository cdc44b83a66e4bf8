//! From the experiment's `backend` and `device` to a burn `Device`, checked before any data
//! is read so that a typo, a backend left out of the build or a missing GPU costs nothing.
//!
//! Devices by backend:
//! - `flex`: `cpu` (or `default`);
//! - `wgpu`: `default` (the best adapter), `cpu` (a CPU adapter such as Mesa's lavapipe),
//!   `discrete-gpu:N`, `integrated-gpu:N`, `virtual-gpu:N`;
//! - `tch`: `default` (the first CUDA GPU if libtorch sees one, else the CPU), `cpu`,
//!   `cuda:N`, `mps`;
//! - `cuda` (burn's CubeCL CUDA backend): `default` (the first GPU), `cuda:N`; refused up front
//!   where no NVIDIA driver is loaded.

use burn::tensor::Device;

use crate::config::schema::BackendKind;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(
        "backend `{0}` is not built into this kiln binary (built: {built}); `cargo xtask run` builds what an experiment asks for, or build it yourself with `cargo build --release -p kiln-runner --features {0}`",
        built = built().join(", ")
    )]
    NotBuilt(&'static str),
    #[error("backend `{backend}` has no device `{device}`; expected {expected}")]
    NoSuchDevice {
        backend: &'static str,
        device: String,
        expected: &'static str,
    },
    #[error("backend `{backend}`, device `{device}` is not usable on this machine: {why}")]
    Unavailable {
        backend: &'static str,
        device: String,
        why: String,
    },
}

/// The backends this binary was built with.
pub fn built() -> Vec<&'static str> {
    let mut b = vec!["flex"];
    if cfg!(feature = "wgpu") {
        b.push("wgpu");
    }
    if cfg!(feature = "tch") {
        b.push("tch");
    }
    if cfg!(feature = "cuda") {
        b.push("cuda");
    }
    b
}

/// `name:N` as N, for device strings like `cuda:0`.
#[cfg_attr(
    not(any(feature = "wgpu", feature = "tch", feature = "cuda")),
    allow(dead_code)
)]
fn indexed(device: &str, name: &str) -> Option<usize> {
    device.strip_prefix(name)?.strip_prefix(':')?.parse().ok()
}

/// The device for `backend`/`device`, tried with a small tensor and seeded so that
/// initialisation and dropout repeat.
pub fn device(backend: BackendKind, device: &str, seed: u64) -> Result<Device, BackendError> {
    let chosen = match backend {
        BackendKind::Flex => match device {
            "cpu" | "default" => Device::flex(),
            other => {
                return Err(BackendError::NoSuchDevice {
                    backend: "flex",
                    device: other.to_string(),
                    expected: "cpu",
                });
            }
        },
        BackendKind::Wgpu => wgpu(device)?,
        BackendKind::Tch => tch(device)?,
        BackendKind::Cuda => cuda(device)?,
    };
    probe(&chosen).map_err(|why| BackendError::Unavailable {
        backend: backend.name(),
        device: device.to_string(),
        why: format!("{}{}{}", plain(&why), seen(backend), hint(backend)),
    })?;
    chosen.seed(seed);
    Ok(chosen)
}

/// A device as a person would name it, in the words of the `device` key: `cpu`, `cuda:0`,
/// and for wgpu the adapter's own name too (`cpu: llvmpipe (LLVM 15.0.6, 256 bits)`).
pub fn describe(device: &Device) -> String {
    let debug = format!("{device:?}");
    for (pattern, name) in [
        ("Flex(Cpu)", "cpu"),
        ("LibTorch(Cpu)", "cpu"),
        ("LibTorch(Mps)", "mps"),
    ] {
        if debug.contains(pattern) {
            return name.to_string();
        }
    }
    if let Some(index) = debug
        .split("LibTorch(Cuda(")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
    {
        return format!("cuda:{index}");
    }
    if let Some(index) = cuda_index(&debug) {
        return format!("cuda:{index}");
    }
    #[cfg(feature = "wgpu")]
    if debug.contains("Wgpu") {
        let name = wgpu_name(&debug);
        return match device.identity() {
            Some(id) => format!("{name}: {}", id.name),
            None => name,
        };
    }
    debug
}

/// Evaluation batches on wgpu are capped: a conv layer's output for 1,000 MNIST images is
/// 147 MB, past the 128 MiB storage buffer that lavapipe (and wgpu's default limits) allow, and
/// the overflow is a panic deep in the kernel launch. Evaluation results do not depend on the
/// batch size, so the cap changes only memory and speed.
pub fn eval_batch_size(backend: BackendKind, asked: usize) -> usize {
    const WGPU_EVAL_CAP: usize = 256;
    match backend {
        BackendKind::Wgpu => asked.min(WGPU_EVAL_CAP),
        BackendKind::Flex | BackendKind::Tch | BackendKind::Cuda => asked,
    }
}

fn hint(backend: BackendKind) -> &'static str {
    match backend {
        BackendKind::Flex => "",
        BackendKind::Wgpu => {
            " (without a GPU, Debian's mesa-vulkan-drivers gives a CPU Vulkan adapter: apt-get install mesa-vulkan-drivers, then device = \"cpu\" or \"default\")"
        }
        BackendKind::Tch => {
            " (libtorch comes from `cargo xtask setup tch`; CUDA devices need a CUDA build of torch and a GPU)"
        }
        BackendKind::Cuda => {
            " (the cuda backend needs an NVIDIA GPU and its driver; `nvidia-smi` lists what the driver sees)"
        }
    }
}

/// wgpu's panic for a missing adapter reaches us as the unwrap of its setup thread's channel;
/// the reason itself is logged as a warning above the error.
fn plain(why: &str) -> &str {
    if why.contains("RecvError") {
        "it could not be opened (the warning above says why)"
    } else {
        why
    }
}

/// What the backend does see, for an error about what it does not: wgpu's own message for a
/// missing adapter is a bare `RecvError` from its setup thread.
fn seen(backend: BackendKind) -> String {
    #[cfg(feature = "wgpu")]
    if backend == BackendKind::Wgpu {
        let found = quietly(|| {
            Device::enumerate(burn::tensor::DeviceType::Wgpu)
                .iter()
                .map(|d| {
                    let name = wgpu_name(&format!("{d:?}"));
                    match d.identity() {
                        Some(id) => format!("`{name}` ({})", id.name),
                        None => format!("`{name}`"),
                    }
                })
                .collect::<Vec<_>>()
        });
        return match found {
            Ok(found) if found.is_empty() => "; wgpu finds no adapter at all".into(),
            Ok(found) => format!("; the devices wgpu finds are {}", found.join(", ")),
            Err(_) => "; listing wgpu's adapters failed too".into(),
        };
    }
    let _ = backend;
    String::new()
}

/// kiln's name for a wgpu device from burn's `Debug` form, which is all that burn exposes of
/// it: `...WgpuDevice { kind: DiscreteGpu(0), ... }` is `discrete-gpu:0`.
#[cfg_attr(not(feature = "wgpu"), allow(dead_code))]
fn wgpu_name(debug: &str) -> String {
    let Some(kind) = debug
        .split("kind: ")
        .nth(1)
        .and_then(|k| k.split([',', ' ', '}']).next())
    else {
        return debug.to_string();
    };
    let (name, index) = match kind.split_once('(') {
        Some((name, rest)) => (name, rest.trim_end_matches(')')),
        None => (kind, ""),
    };
    let name = match name {
        "DiscreteGpu" => "discrete-gpu",
        "IntegratedGpu" => "integrated-gpu",
        "VirtualGpu" => "virtual-gpu",
        "Cpu" => "cpu",
        "DefaultDevice" => "default",
        _ => return debug.to_string(),
    };
    if index.is_empty() {
        name.to_string()
    } else {
        format!("{name}:{index}")
    }
}

/// Runs `f`, turning a panic into an `Err` without printing it: here a panic is the
/// backend's way of saying a device is missing (or, for a checkpoint probed by the GAN task,
/// that its shapes do not fit), and the caller words the error.
pub(crate) fn quietly<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> std::thread::Result<T> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(f);
    std::panic::set_hook(hook);
    result
}

/// Creates and reads back a tensor: backends report a missing adapter or library by
/// panicking on first use, and that must be an error here, before any data is read.
fn probe(device: &Device) -> Result<(), String> {
    let device = device.clone();
    let result = quietly(move || {
        let t = burn::tensor::Tensor::<1>::from_floats([1.0, 2.0], &device);
        (t * 2.0).into_data().try_to_vec::<f32>().ok()
    });
    match result {
        Ok(Some(v)) if v == [2.0, 4.0] => Ok(()),
        Ok(other) => Err(format!(
            "a test computation gave {other:?} instead of [2, 4]"
        )),
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("it failed on first use")
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()),
    }
}

#[cfg(feature = "wgpu")]
fn wgpu(device: &str) -> Result<Device, BackendError> {
    use burn::tensor::DeviceKind;
    let kind = match device {
        "default" => DeviceKind::DefaultDevice,
        "cpu" => DeviceKind::Cpu,
        d => {
            let parsed = [
                (
                    "discrete-gpu",
                    DeviceKind::DiscreteGpu as fn(usize) -> DeviceKind,
                ),
                ("integrated-gpu", DeviceKind::IntegratedGpu),
                ("virtual-gpu", DeviceKind::VirtualGpu),
            ]
            .iter()
            .find_map(|(name, make)| indexed(d, name).map(make));
            parsed.ok_or_else(|| BackendError::NoSuchDevice {
                backend: "wgpu",
                device: d.to_string(),
                expected: "default, cpu, discrete-gpu:N, integrated-gpu:N or virtual-gpu:N",
            })?
        }
    };
    Ok(Device::wgpu(kind))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu(_device: &str) -> Result<Device, BackendError> {
    Err(BackendError::NotBuilt("wgpu"))
}

// burn 0.22 marks its libtorch devices deprecated in favour of CubeCL backends; kiln keeps tch
// on purpose, as the reference implementation the other backends are checked against.
#[cfg(feature = "tch")]
#[allow(deprecated)]
fn tch(device: &str) -> Result<Device, BackendError> {
    match device {
        "cpu" => Ok(Device::libtorch()),
        "mps" => Ok(Device::libtorch_mps()),
        "default" => {
            let cuda = Device::libtorch_cuda(0);
            Ok(if probe(&cuda).is_ok() {
                cuda
            } else {
                Device::libtorch()
            })
        }
        d => indexed(d, "cuda")
            .map(Device::libtorch_cuda)
            .ok_or_else(|| BackendError::NoSuchDevice {
                backend: "tch",
                device: d.to_string(),
                expected: "default, cpu, cuda:N or mps",
            }),
    }
}

#[cfg(not(feature = "tch"))]
fn tch(_device: &str) -> Result<Device, BackendError> {
    Err(BackendError::NotBuilt("tch"))
}

/// The index in burn's `Debug` form of a CubeCL CUDA device, `...CudaDevice { index: 1 }...`.
fn cuda_index(debug: &str) -> Option<usize> {
    let rest = debug.split("CudaDevice").nth(1)?;
    rest.split("index: ")
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Where the NVIDIA kernel driver says it is loaded (Linux).
#[cfg(any(test, feature = "cuda"))]
const NVIDIA_DRIVER: &str = "/proc/driver/nvidia/version";

#[cfg(feature = "cuda")]
fn cuda(device: &str) -> Result<Device, BackendError> {
    use burn::tensor::DeviceIndex;
    let index = match device {
        "default" => DeviceIndex::Default,
        d => DeviceIndex::Specified(indexed(d, "cuda").ok_or_else(|| {
            BackendError::NoSuchDevice {
                backend: "cuda",
                device: d.to_string(),
                expected: "default or cuda:N",
            }
        })?),
    };
    // Without a driver, CubeCL's first call fails deep inside (or aborts); say it plainly.
    if cfg!(target_os = "linux") && !std::path::Path::new(NVIDIA_DRIVER).exists() {
        return Err(BackendError::Unavailable {
            backend: "cuda",
            device: device.to_string(),
            why: format!(
                "no NVIDIA driver is loaded ({NVIDIA_DRIVER} is missing){}",
                hint(BackendKind::Cuda)
            ),
        });
    }
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda(device: &str) -> Result<Device, BackendError> {
    if device != "default" && indexed(device, "cuda").is_none() {
        return Err(BackendError::NoSuchDevice {
            backend: "cuda",
            device: device.to_string(),
            expected: "default or cuda:N",
        });
    }
    Err(BackendError::NotBuilt("cuda"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_cpu_is_available_and_others_are_explained() {
        assert!(device(BackendKind::Flex, "cpu", 1).is_ok());
        let e = device(BackendKind::Flex, "cuda:0", 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cuda:0") && e.contains("cpu"), "{e}");
        if !cfg!(feature = "tch") {
            let e = device(BackendKind::Tch, "cpu", 1).unwrap_err().to_string();
            assert!(
                e.contains("`tch`") && e.contains("not built") && e.contains("--features tch"),
                "{e}"
            );
        }
    }

    #[test]
    fn wgpu_devices_are_named_as_configs_name_them() {
        let debug = "Device<Cube(Wgpu(WgpuDevice { kind: DiscreteGpu(1), backend: Auto }))>";
        assert_eq!(wgpu_name(debug), "discrete-gpu:1");
        assert_eq!(wgpu_name("WgpuDevice { kind: Cpu, backend: Auto }"), "cpu");
        assert_eq!(wgpu_name("something else"), "something else");
    }

    #[test]
    fn devices_are_described_in_config_words() {
        assert_eq!(describe(&Device::flex()), "cpu");
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        {
            assert_eq!(describe(&Device::libtorch()), "cpu");
            assert_eq!(describe(&Device::libtorch_cuda(1)), "cuda:1");
        }
    }

    #[test]
    fn only_wgpu_caps_evaluation_batches() {
        assert_eq!(eval_batch_size(BackendKind::Wgpu, 1000), 256);
        assert_eq!(eval_batch_size(BackendKind::Wgpu, 100), 100);
        assert_eq!(eval_batch_size(BackendKind::Flex, 1000), 1000);
        assert_eq!(eval_batch_size(BackendKind::Tch, 1000), 1000);
    }

    #[test]
    fn cuda_is_refused_clearly_without_its_build_or_a_driver() {
        let e = device(BackendKind::Cuda, "gpu", 1).unwrap_err().to_string();
        assert!(e.contains("`gpu`") && e.contains("cuda:N"), "{e}");
        let e = device(BackendKind::Cuda, "cuda:0", 1)
            .unwrap_err()
            .to_string();
        if !cfg!(feature = "cuda") {
            assert!(
                e.contains("not built") && e.contains("--features cuda"),
                "{e}"
            );
        } else if !std::path::Path::new(NVIDIA_DRIVER).exists() {
            assert!(e.contains("no NVIDIA driver"), "{e}");
        }
        assert_eq!(
            cuda_index("Device<Cube(Cuda(CudaDevice { index: 3 }))>"),
            Some(3)
        );
        assert_eq!(cuda_index("Device<Flex(Cpu)>"), None);
    }

    #[test]
    fn device_strings_read_their_index() {
        assert_eq!(indexed("cuda:1", "cuda"), Some(1));
        assert_eq!(indexed("discrete-gpu:0", "discrete-gpu"), Some(0));
        assert_eq!(indexed("cuda", "cuda"), None);
        assert_eq!(indexed("cuda:x", "cuda"), None);
    }
}
