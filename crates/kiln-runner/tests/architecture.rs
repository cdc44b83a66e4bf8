//! The module graph of every crate in the workspace has no cycles, and kiln-runner's modules
//! obey the layers ARCHITECTURE.md lists: for each crate, a module's `crate::x` paths
//! (grouped imports included, outside comments and `#[cfg(test)]` code) are its edges to
//! top-level module `x`; in kiln-runner each edge must point to a lower layer.

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

/// kiln-runner's layers as ARCHITECTURE.md lists them under "Layers, top to bottom": one
/// bullet a layer, its modules the bold code spans (`- **`cli`**: ...`), top layer first.
fn documented_layers() -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ARCHITECTURE.md"),
    )
    .unwrap();
    let section = doc
        .split("#### Layers, top to bottom")
        .nth(1)
        .expect("ARCHITECTURE.md has a \"Layers, top to bottom\" section");
    let section = section.split("\n#").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("- **`"))
        .map(|l| {
            l.split("**`")
                .skip(1)
                .filter_map(|s| s.split_once("`**").map(|(name, _)| name.to_string()))
                .collect()
        })
        .collect()
}

/// Each edge that does not point to a lower layer, as "from (layer i) imports to (layer j)";
/// a module in no layer is an error of its own.
fn layer_violations(
    graph: &BTreeMap<String, BTreeSet<String>>,
    layers: &[Vec<String>],
) -> Vec<String> {
    // Rank 0 is the top layer, so a module may import only higher ranks.
    let rank = |m: &str| layers.iter().position(|l| l.iter().any(|n| n == m));
    let mut found = Vec::new();
    for (from, edges) in graph {
        let Some(r) = rank(from) else {
            if from != "lib" && from != "main" {
                found.push(format!("`{from}` is in no layer of ARCHITECTURE.md"));
            }
            continue;
        };
        for to in edges {
            match rank(to) {
                Some(t) if t > r => {}
                Some(t) => found.push(format!(
                    "`{from}` (layer {}) imports `{to}` (layer {}), which is not below it",
                    r + 1,
                    t + 1
                )),
                None => found.push(format!("`{to}` is in no layer of ARCHITECTURE.md")),
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn the_runner_imports_only_downwards_through_its_documented_layers() {
    let layers = documented_layers();
    assert!(layers.len() >= 6, "{layers:?}");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let g = graph(&src);
    let violations = layer_violations(&g, &layers);
    assert!(violations.is_empty(), "{violations:#?}");
    for layer in &layers {
        for module in layer {
            assert!(
                g.contains_key(module),
                "ARCHITECTURE.md names `{module}`, which src/ does not have"
            );
        }
    }
}

#[test]
fn an_upward_or_sideways_import_breaks_the_layers() {
    let layers: Vec<Vec<String>> = vec![
        vec!["cli".into()],
        vec!["engine".into(), "serve".into()],
        vec!["store".into()],
    ];
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("cli".into()).or_default().insert("store".into());
    g.entry("engine".into()).or_default().insert("store".into());
    assert!(layer_violations(&g, &layers).is_empty());
    g.entry("store".into()).or_default().insert("engine".into());
    g.entry("serve".into()).or_default().insert("engine".into());
    g.entry("bench".into()).or_default();
    assert_eq!(
        layer_violations(&g, &layers),
        [
            "`bench` is in no layer of ARCHITECTURE.md",
            "`serve` (layer 2) imports `engine` (layer 2), which is not below it",
            "`store` (layer 3) imports `engine` (layer 2), which is not below it",
        ]
    );
}

#[test]
fn grouped_imports_count_as_edges() {
    let code = "use crate::{config::{Plan, Sweep},\n    tasks, store::run_dir::RunDir};\nlet x = crate::engine::run::go();";
    assert_eq!(crate_paths(code), ["config", "tasks", "store", "engine"]);
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

#[test]
fn the_custom_model_example_uses_only_the_plugin_module() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/custom-model/src");
    let mut uses = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (at, _) in text.match_indices("kiln_runner::") {
            let module: String = text[at + "kiln_runner::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            uses.push((
                path.file_name().unwrap().to_string_lossy().into_owned(),
                module,
            ));
        }
    }
    assert!(!uses.is_empty(), "the example names kiln_runner");
    assert!(
        uses.iter().all(|(_, m)| m == "plugin"),
        "the example reaches past kiln_runner::plugin: {uses:?}"
    );
}

/// Functions in `code` longer than `limit` lines, as (name, lines), outside `#[cfg(test)]`.
/// A function starts at a line `fn name(` (after any visibility and qualifiers) and ends at
/// the first line that is its indentation and `}`; a declaration without a body is skipped.
fn long_functions(code: &str, limit: usize) -> Vec<(String, usize)> {
    let code = code.split("#[cfg(test)]").next().unwrap_or("");
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = &line[..line.len() - line.trim_start().len()];
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "fn");
        let qualifiers = at.is_some_and(|at| {
            words[..at]
                .iter()
                .all(|w| w.starts_with("pub") || ["const", "unsafe", "async", "extern"].contains(w))
        });
        let (Some(at), true) = (at, qualifiers) else {
            i += 1;
            continue;
        };
        let name: String = words
            .get(at + 1)
            .map(|w| {
                w.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect()
            })
            .unwrap_or_default();
        let mut open = i;
        while open < lines.len() && !lines[open].trim_end().ends_with(['{', ';']) {
            open += 1;
        }
        if open >= lines.len() || lines[open].trim_end().ends_with(';') {
            i = open + 1;
            continue;
        }
        let close = (open..lines.len())
            .find(|&j| lines[j] == format!("{indent}}}"))
            .unwrap_or(lines.len() - 1);
        if close - i + 1 > limit {
            found.push((name, close - i + 1));
        }
        i = close + 1;
    }
    found
}

/// Every Rust source file of the workspace outside tests: each crate's `src/`, xtask's and
/// the example's, with its path relative to the workspace.
fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut stack: Vec<std::path::PathBuf> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path().join("src"))
        .chain([
            root.join("xtask/src"),
            root.join("examples/custom-model/src"),
        ])
        .collect();
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = path.strip_prefix(&root).unwrap().display().to_string();
                files.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    assert!(files.len() > 100, "only {} files read", files.len());
    files
}

#[test]
fn no_function_outside_tests_is_over_100_lines() {
    let mut long = Vec::new();
    for (path, text) in sources() {
        for (name, n) in long_functions(&text, 100) {
            long.push(format!("{path}: {name} ({n} lines)"));
        }
    }
    assert!(long.is_empty(), "split these: {long:#?}");
}

#[test]
fn unsafe_code_is_allowed_only_where_architecture_md_says() {
    let allowed: BTreeSet<String> = sources()
        .into_iter()
        .filter(|(_, text)| text.contains("allow(unsafe_code)"))
        .map(|(path, _)| path)
        .collect();
    let documented = [
        "crates/kiln-kernels/src/gemm.rs",
        "crates/kiln-runner/src/platform/allocator.rs",
    ];
    assert_eq!(allowed, documented.map(String::from).into());
    let architecture = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ARCHITECTURE.md"),
    )
    .unwrap();
    for path in documented {
        let short = path.trim_start_matches("crates/");
        assert!(
            architecture.contains(short),
            "ARCHITECTURE.md does not name {short}"
        );
    }
}

#[test]
fn a_long_function_is_found_and_a_declaration_is_not() {
    let body = "    let x = 1;\n".repeat(5);
    let code = format!(
        "pub(crate) fn short() {{\n{body}}}\n\ntrait T {{\n    fn declared(&self) -> u8;\n}}\n\nfn long(\n    a: u8,\n) -> u8 {{\n{body}{body}}}\n"
    );
    assert_eq!(long_functions(&code, 9), [("long".to_string(), 14)]);
    assert!(long_functions(&code, 14).is_empty());
}
