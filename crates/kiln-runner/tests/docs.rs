//! The reference pages against the code they describe: a page that lags the code fails here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every quoted `KILN_*` literal in the Rust sources under `dir`, tests left out (they
/// set variables for the code, and name some to show that they are not read).
fn variables_read(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.ends_with("tests") {
            variables_read(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text.split("#[cfg(test)]").next().unwrap_or_default();
            for piece in text.split("\"KILN_").skip(1) {
                let name: String = piece
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if piece[name.len()..].starts_with('"') && !name.is_empty() {
                    found.insert(format!("KILN_{name}"));
                }
            }
        }
    }
}

#[test]
fn every_environment_variable_the_code_reads_is_documented() {
    let root = workspace();
    let mut read = BTreeSet::new();
    for dir in ["crates", "xtask", "examples"] {
        variables_read(&root.join(dir), &mut read);
    }
    assert!(read.contains("KILN_DATASETS"), "{read:?}");
    let page = std::fs::read_to_string(root.join("docs/src/reference/environment.md")).unwrap();
    let missing: Vec<&String> = read
        .iter()
        .filter(|name| !page.contains(&format!("`{name}")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/src/reference/environment.md does not name {missing:?}"
    );
}

#[test]
fn the_command_line_reference_is_what_the_parser_defines() {
    let page = std::fs::read_to_string(workspace().join("docs/src/reference/cli.md")).unwrap();
    let current = kiln_runner::cli::reference();
    for command in ["run", "predict", "evaluate", "export", "compare", "bench"] {
        assert!(
            current.contains(&format!("## kiln {command}\n")),
            "{command}"
        );
    }
    assert!(
        page == current,
        "docs/src/reference/cli.md lags kiln's arguments; `cargo xtask docs` writes it anew"
    );
}

/// The Markdown pages a reader meets: the README, the architecture and the book's sources.
fn pages() -> Vec<PathBuf> {
    let root = workspace();
    let mut pages = vec![
        root.join("README.md"),
        root.join("ARCHITECTURE.md"),
        root.join("experiments/README.md"),
    ];
    let mut dirs = vec![root.join("docs/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                pages.push(path);
            }
        }
    }
    pages
}

#[test]
fn every_link_and_experiment_file_the_pages_name_exists() {
    let root = workspace();
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        for piece in text.split("](").skip(1) {
            let target = piece.split([')', ' ']).next().unwrap_or_default();
            let target = target.split('#').next().unwrap_or_default();
            let external = target.contains("://") || target.starts_with("mailto:");
            if !target.is_empty() && !external && !dir.join(target).exists() {
                broken.push(format!("{}: {target}", page.display()));
            }
        }
        // Experiment files named in prose and commands, wherever the page sits.
        for piece in text.split("experiments/").skip(1) {
            let name: String = piece
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                .collect();
            // `experiments/X.toml` stands for any file.
            let placeholder = name.len() == "x.toml".len();
            if name.ends_with(".toml")
                && !placeholder
                && !root.join("experiments").join(&name).is_file()
            {
                broken.push(format!("{}: experiments/{name}", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
}

#[test]
fn every_shipped_experiment_passes_the_checks() {
    let root = workspace();
    let mut files = Vec::new();
    for dir in ["experiments", "bench/workloads"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 10, "{files:?}");
    let failed: Vec<String> = files
        .iter()
        .filter_map(|f| kiln_runner::config::plan(f, &[]).err().map(|e| e.0))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn the_experiments_readme_lists_every_experiment_file_once() {
    let root = workspace();
    let readme = std::fs::read_to_string(root.join("experiments/README.md")).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(root.join("experiments"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    files.sort();
    let listed: Vec<String> = readme
        .lines()
        .filter_map(|l| {
            l.strip_prefix("| [`")?
                .split_once('`')
                .map(|(f, _)| f.to_string())
        })
        .collect();
    assert_eq!(
        listed, files,
        "experiments/README.md: one row per file, in name order"
    );
}
