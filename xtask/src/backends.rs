//! The optional backends: which cargo features an experiment needs, and libtorch for `tch`.
//!
//! libtorch is not downloadable here, but PyPI's torch wheel carries it: `setup tch` installs
//! torch 2.9.0 (the version burn 0.22.1's tch bindings are written against) into a virtual
//! environment outside the repository, and builds and runs that link it get the variables
//! tch-rs reads (`LIBTORCH_USE_PYTORCH`, the venv's python on `PATH`) and the library path.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const TORCH_VERSION: &str = "2.9.0";

/// Said before a build with the cuda backend, whose failure without the network is otherwise
/// a bare DNS error from a build script.
pub const CUDA_BUILD_NOTE: &str = "xtask: the cuda backend links LLVM 23, which burn's CubeCL downloads from github.com while it builds (tracel-llvm-bundler, into ~/.local/share/tracel); without access to github.com that build fails with \"failed to lookup address information\"";

/// Backends beyond flex that the experiment `file` asks for, through its `backend` or
/// `backends` keys (a sweep's included), `--set backend=...` or `--set backends=...` in
/// `args`, or `KILN_BACKEND`.
pub fn asked(file: &Path, args: &[OsString]) -> Vec<&'static str> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut found = Vec::new();
    let mut consider = |line: &str| {
        for name in ["wgpu", "tch", "cuda"] {
            if line.contains(&format!("\"{name}\"")) || line.ends_with(&format!("={name}")) {
                found.push(name);
            }
        }
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let key = line.split('=').next().unwrap_or("").trim();
        if key == "backend" || key == "backends" {
            consider(line);
        }
    }
    for a in args {
        let a = a.to_string_lossy();
        if let Some((key, value)) = a.split_once('=')
            && matches!(key.trim(), "backend" | "backends")
        {
            // `wgpu`, `flex,tch` or `["tch", "wgpu"]`: every word counts.
            for word in value.split(|c: char| !c.is_ascii_alphanumeric()) {
                consider(&format!("={word}"));
            }
        }
    }
    if let Ok(b) = env::var("KILN_BACKEND") {
        consider(&format!("={b}"));
    }
    found.sort();
    found.dedup();
    found
}

/// Where `setup tch` puts torch: `KILN_TORCH_DIR`, else the user's cache folder.
pub fn torch_dir() -> PathBuf {
    if let Some(d) = env::var_os("KILN_TORCH_DIR") {
        return PathBuf::from(d);
    }
    cache_dir().join(format!("torch-{TORCH_VERSION}"))
}

/// kiln's folder in the user's cache (`~/.cache/kiln`), for the tools xtask installs.
pub fn cache_dir() -> PathBuf {
    env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"))
        .join("kiln")
}

/// The installed torch's `lib` folder, if the venv holds torch 2.9.0.
fn torch_lib(dir: &Path) -> Option<PathBuf> {
    let out = Command::new(dir.join("bin").join("python"))
        .args([
            "-c",
            "import os, torch; print(torch.__version__); print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let version = lines.next()?;
    let lib = lines.next()?;
    (version == TORCH_VERSION || version.starts_with(&format!("{TORCH_VERSION}+")))
        .then(|| PathBuf::from(lib))
}

/// safetensors for Python, which `kiln export`'s model.py and its round-trip test read
/// weights with.
const SAFETENSORS_VERSION: &str = "0.8.0";

/// uv, the installer `setup tch` puts torch in with: PyPI's torch wheel comes with some 4 GB
/// of CUDA libraries, which uv fetches in parallel and unpacks several times faster than pip.
const UV_VERSION: &str = "0.13.9";

/// `setup tch`: a venv with torch 2.9.0 and safetensors, made once.
pub fn setup_tch() -> Result<(), String> {
    let dir = torch_dir();
    let pip = |package: String| {
        let mut c = Command::new(dir.join("bin").join("pip"));
        c.args(["install", "--quiet", &package]);
        crate::status(c)
    };
    if let Some(lib) = torch_lib(&dir) {
        println!(
            "torch {TORCH_VERSION} is already in {} (libtorch: {})",
            dir.display(),
            lib.display()
        );
        if !has_safetensors(&dir) {
            pip(format!("safetensors=={SAFETENSORS_VERSION}"))?;
        }
        return Ok(());
    }
    println!(
        "installing torch {TORCH_VERSION} from PyPI into {} (about 4 GB, a few minutes)",
        dir.display()
    );
    crate::status({
        let mut c = Command::new("python3");
        c.args(["-m", "venv"]).arg(&dir);
        c
    })?;
    let packages = [
        format!("torch=={TORCH_VERSION}"),
        format!("safetensors=={SAFETENSORS_VERSION}"),
    ];
    if pip(format!("uv=={UV_VERSION}")).is_ok() {
        crate::status({
            let mut c = Command::new(dir.join("bin").join("uv"));
            // No cache: the wheels are unpacked once, into the venv.
            c.args(["pip", "install", "--quiet", "--no-cache", "--python"])
                .arg(dir.join("bin").join("python"))
                .args(&packages);
            c
        })?;
    } else {
        eprintln!("xtask: no uv for this platform: installing with pip");
        for package in packages {
            pip(package)?;
        }
    }
    let lib = torch_lib(&dir).ok_or("torch installed but cannot be imported")?;
    println!("libtorch: {}", lib.display());
    Ok(())
}

fn has_safetensors(dir: &Path) -> bool {
    Command::new(dir.join("bin").join("python"))
        .args(["-c", "import safetensors.torch"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The venv's Python when it has torch and safetensors: what the PyTorch round trip of
/// `kiln export` is tested with.
pub fn export_test_python() -> Option<PathBuf> {
    let dir = torch_dir();
    (torch_lib(&dir).is_some() && has_safetensors(&dir)).then(|| dir.join("bin").join("python"))
}

/// The Python of the venv `setup tch` made, which has torch (for the PyTorch comparison).
pub fn torch_python() -> Result<PathBuf, String> {
    let dir = torch_dir();
    torch_lib(&dir).ok_or_else(|| {
        format!(
            "comparing with PyTorch needs torch {TORCH_VERSION}, which is not in {}: run `cargo xtask setup tch` once (or name a Python after --against-pytorch)",
            dir.display()
        )
    })?;
    Ok(dir.join("bin").join("python"))
}

/// Makes `cmd` able to build and run code that links libtorch.
pub fn tch_env(cmd: &mut Command) -> Result<(), String> {
    let dir = torch_dir();
    let lib = torch_lib(&dir).ok_or_else(|| {
        format!(
            "the tch backend needs torch {TORCH_VERSION}, which is not in {}: run `cargo xtask setup tch` once (or point KILN_TORCH_DIR at a venv that has it)",
            dir.display()
        )
    })?;
    let join = |first: PathBuf, var: &str| {
        let mut paths = vec![first];
        paths.extend(env::var_os(var).iter().flat_map(env::split_paths));
        env::join_paths(paths).map_err(|e| e.to_string())
    };
    cmd.env("LIBTORCH_USE_PYTORCH", "1")
        .env("PATH", join(dir.join("bin"), "PATH")?)
        .env("LD_LIBRARY_PATH", join(lib, "LD_LIBRARY_PATH")?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_found_in_files_and_arguments() {
        let dir = env::temp_dir().join(format!("xtask-backends-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("e.toml");
        std::fs::write(
            &file,
            "name = \"x\" # backend = \"tch\"\nbackends = [\"flex\", \"wgpu\"]\n",
        )
        .unwrap();
        assert_eq!(asked(&file, &[]), ["wgpu"]);
        let sets: Vec<OsString> = vec!["--set".into(), "backend=tch".into()];
        assert_eq!(asked(&file, &sets), ["tch", "wgpu"]);
        std::fs::write(&file, "backend = \"flex\"\n").unwrap();
        assert!(asked(&file, &[]).is_empty());
        for list in ["backends=flex,tch", "backends=[\"tch\", \"flex\"]"] {
            assert_eq!(
                asked(&file, &["--set".into(), list.into()]),
                ["tch"],
                "{list}"
            );
        }
        let unrelated: Vec<OsString> = vec!["--set".into(), "name=wgpu".into()];
        assert!(asked(&file, &unrelated).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
