//! The module graph of every crate in the workspace has no cycles: for each crate, a module's
//! `crate::x` paths (outside comments and `#[cfg(test)]` code) are its edges to top-level
//! module `x`, and no module reaches itself. ARCHITECTURE.md's layers depend on it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Names that `lib.rs` re-exports (`pub use module::{A, B}`), with the module they come
/// from, so that `crate::A` counts as an edge to that module.
fn reexports(src: &Path) -> BTreeMap<String, String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
    let mut out = BTreeMap::new();
    for item in lib.split(';') {
        let Some(rest) = item.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, names)) = rest.split_once("::") else {
            continue;
        };
        for name in names.split([',', '{', '}', ' ', '\n']) {
            let name = name.rsplit("::").next().unwrap_or(name).trim();
            if !name.is_empty() {
                out.insert(name.to_string(), module.trim().to_string());
            }
        }
    }
    out
}

/// The first segment of every `crate::` path in `code`, grouped imports included:
/// `crate::{a, b::{C, D}}` names `a` and `b`.
fn crate_paths(code: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            found.push(ident(rest));
            continue;
        };
        // The group's top-level items, up to its matching brace.
        let (mut depth, mut item_start) = (0usize, 0usize);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    found.push(ident(&group[item_start..i]));
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    found.push(ident(&group[item_start..i]));
                    item_start = i + 1;
                }
                _ => {}
            }
        }
    }
    found
}

/// Top-level module -> the top-level modules its code names.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let names = reexports(src);
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            let edges = out.entry(top.clone()).or_default();
            let code: String = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for name in crate_paths(&code) {
                let module = names.get(&name).cloned().unwrap_or(name);
                if !module.is_empty() && module != top {
                    edges.insert(module);
                }
            }
        }
    }
    out
}

/// A cycle through `start`, as the path of modules, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut found = path.clone();
                found.push(next.clone());
                return Some(found);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates).unwrap() {
        let src = entry.unwrap().path().join("src");
        if !src.is_dir() {
            continue;
        }
        let g = graph(&src);
        assert!(g.len() > 1, "{} has its modules", src.display());
        for module in g.keys() {
            if let Some(found) = cycle(&g, module) {
                panic!("{}: import cycle {}", src.display(), found.join(" -> "));
            }
        }
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} crates found");
}

#[test]
fn grouped_imports_count_as_edges() {
    let code = "use crate::{config::{Plan, Sweep},\n    tasks, run_dir::RunDir};\nlet x = crate::index::read();";
    assert_eq!(crate_paths(code), ["config", "tasks", "run_dir", "index"]);
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cycle(&g, "a").unwrap(), ["a", "b", "c", "a"]);
    g.get_mut("c").unwrap().clear();
    assert!(cycle(&g, "a").is_none());
}

/// The extensions of the files kiln writes and reads in its folders.
const STORED: &[&str] = &[
    "json",
    "csv",
    "tsv",
    "parquet",
    "toml",
    "bpk",
    "txt",
    "png",
    "svg",
    "html",
    "py",
    "safetensors",
    "lock",
    "log",
    "sh",
    "yaml",
    "jsonl",
];

/// String literals in `code` that are a bare file name kiln would store (`name.ext`).
fn file_name_literals(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in code.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") || line.contains("include_str!") {
            continue;
        }
        for literal in line.split('"').skip(1).step_by(2) {
            let bare = !literal.is_empty()
                && literal
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-{}".contains(c));
            let stored = literal
                .rsplit_once('.')
                .is_some_and(|(stem, ext)| !stem.is_empty() && STORED.contains(&ext));
            if bare && stored {
                found.push(literal.to_string());
            }
        }
    }
    found
}

#[test]
fn only_the_store_spells_the_names_of_the_files_kiln_writes() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src.clone()];
    let mut spelled = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("run_dir.rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                for name in file_name_literals(code) {
                    spelled.push(format!(
                        "{}: \"{name}\"",
                        path.strip_prefix(&src).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(
        spelled.is_empty(),
        "file names spelled outside run_dir.rs (give run_dir.rs a function for each): {spelled:#?}"
    );
}

#[test]
fn a_file_name_literal_is_found_and_paths_and_comments_are_not() {
    let code = "let a = dir.join(\"model.safetensors\");\n// \"notes.txt\"\nlet b = \"bench/x.py\";\nlet c = format!(\"{name}.png\");";
    assert_eq!(
        file_name_literals(code),
        ["model.safetensors", "{name}.png"]
    );
}
