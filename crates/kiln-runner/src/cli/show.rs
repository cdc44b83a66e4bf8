//! `kiln show`: one run at a glance, its provenance, resolved config, results and files.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use super::args::RunFolder;
use crate::store::manifest::Manifest;
use crate::store::run_dir::RunDir;

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    run: RunFolder,
}

impl ShowArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let run = RunDir::open(&self.run.run);
        anyhow::ensure!(
            run.manifest().is_file(),
            "{}: not a run folder (it has no {})",
            run.root.display(),
            run.manifest()
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
        );
        let manifest = Manifest::read(&run.manifest())?;
        let (status, error) = manifest.as_seen();
        let status = serde_json::to_value(status)?;
        let status = status.as_str().unwrap_or("unknown");
        // Written at once, so that a closed pipe (`kiln show RUN | head`) is an error the
        // command line ends quietly on, not a panic.
        let mut out = String::new();
        writeln!(out, "{}", run.root.display())?;
        writeln!(
            out,
            "  experiment  {} (seed {})",
            manifest.experiment, manifest.seed
        )?;
        writeln!(out, "  status      {status}")?;
        if let Some(error) = &error {
            writeln!(out, "  error       {error}")?;
        }
        writeln!(
            out,
            "  started     {}, {} epoch(s) run, best {}",
            manifest.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            manifest.epochs_run,
            manifest
                .best_epoch
                .map_or_else(|| "none".to_string(), |e| e.to_string())
        )?;
        writeln!(
            out,
            "  backend     {} ({})",
            manifest.backend, manifest.resolved_device
        )?;
        if let Some(git) = &manifest.git {
            let dirty = if git.dirty {
                ", uncommitted changes"
            } else {
                ""
            };
            writeln!(
                out,
                "  kiln        {} at {}{dirty}",
                manifest.kiln_version, git.commit
            )?;
        }
        if let Ok(text) = std::fs::read(run.test_report()) {
            let test: serde_json::Value = serde_json::from_slice(&text)?;
            writeln!(out, "\nresult ({}):", run.test_report().display())?;
            for (key, value) in test.as_object().into_iter().flatten() {
                if let Some(number) = value.as_f64() {
                    writeln!(out, "  {key:<14} {number}")?;
                }
            }
        }
        writeln!(out, "\nconfig ({}):", run.config().display())?;
        for line in std::fs::read_to_string(run.config())?.lines() {
            writeln!(out, "  {line}")?;
        }
        writeln!(out, "\nfiles:")?;
        for (path, bytes) in files(&run.root)? {
            writeln!(out, "  {:>10}  {}", bytes, path)?;
        }
        std::io::stdout().write_all(out.as_bytes())?;
        Ok(())
    }
}

/// Every file under `root` with its size, in name order, hidden ones (unfinished writes)
/// left out.
fn files(root: &Path) -> anyhow::Result<Vec<(String, u64)>> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(root)?.display().to_string();
                found.push((name, entry.metadata()?.len()));
            }
        }
    }
    found.sort();
    Ok(found)
}
