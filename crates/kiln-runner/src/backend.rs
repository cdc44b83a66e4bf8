//! From the experiment's `backend` and `device` to a burn `Device`, checked before any data
//! is read so that a typo costs nothing.

use burn::tensor::Device;

use crate::config::BackendKind;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(
        "backend `{0}` is not built into this kiln binary; only `flex` (CPU) is available in this build"
    )]
    NotBuilt(&'static str),
    #[error("backend `{backend}` has no device `{device}`; available: {available}")]
    NoSuchDevice {
        backend: &'static str,
        device: String,
        available: String,
    },
}

/// The device for `backend`/`device`, seeded so that initialisation and dropout repeat.
pub fn device(backend: BackendKind, device: &str, seed: u64) -> Result<Device, BackendError> {
    let device = match backend {
        BackendKind::Flex => match device {
            "cpu" => Device::flex(),
            other => {
                return Err(BackendError::NoSuchDevice {
                    backend: "flex",
                    device: other.to_string(),
                    available: "cpu".into(),
                });
            }
        },
        BackendKind::Wgpu | BackendKind::Tch => return Err(BackendError::NotBuilt(backend.name())),
    };
    device.seed(seed);
    Ok(device)
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
        let e = device(BackendKind::Tch, "cpu", 1).unwrap_err().to_string();
        assert!(e.contains("`tch`") && e.contains("not built"), "{e}");
    }
}
