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

/// A generated reference page equals what the code generates now.
fn assert_current(page: &str, current: &str, source: &str) {
    let written =
        std::fs::read_to_string(workspace().join("docs/src/reference").join(page)).unwrap();
    assert!(
        written == current,
        "docs/src/reference/{page} lags {source}; `cargo xtask docs` writes it anew"
    );
}

#[test]
fn the_command_line_reference_is_what_the_parser_defines() {
    let current = kiln_runner::cli::reference();
    for command in ["run", "predict", "evaluate", "export", "compare", "bench"] {
        assert!(
            current.contains(&format!("## kiln {command}\n")),
            "{command}"
        );
    }
    assert_current("cli.md", &current, "kiln's arguments");
}

#[test]
fn the_experiment_file_reference_is_what_the_table_of_keys_says() {
    let current = kiln_runner::config::schema::keys::reference();
    assert!(current.contains("| `data.vocab_size` |"));
    assert_current("config.md", &current, "kiln's table of keys");
}

#[test]
fn the_run_index_reference_is_what_the_column_lists_say() {
    let current = kiln_runner::store::index::reference(&kiln_runner::config::spec::metric_names());
    for column in
        kiln_runner::store::index::core_columns(&kiln_runner::config::spec::metric_names())
    {
        // A column of its own, or a metric's `test_`/`best_val_` pair.
        let metric = column
            .strip_prefix("test_")
            .or_else(|| column.strip_prefix("best_val_"));
        let named = current.contains(&format!("| `{column}` |"))
            || metric.is_some_and(|m| current.contains(&format!("`{m}`")));
        assert!(named, "{column}");
    }
    assert_current("index.md", &current, "kiln's index columns");
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

/// The anchors of a page's headings, as mdBook and forges make them: lower case, spaces as
/// `-`, other punctuation dropped.
fn headings(page: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(page).unwrap_or_default();
    let mut in_code = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim();
        let slug: String = title
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        found.insert(slug);
    }
    found
}

#[test]
fn every_link_and_experiment_file_the_pages_name_exists() {
    let root = workspace();
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        for piece in text.split("](").skip(1) {
            let link = piece.split([')', ' ']).next().unwrap_or_default();
            let (target, anchor) = link.split_once('#').unwrap_or((link, ""));
            let external = target.contains("://") || target.starts_with("mailto:");
            if external {
                continue;
            }
            let file = if target.is_empty() {
                page.clone()
            } else {
                dir.join(target)
            };
            if !file.exists() {
                broken.push(format!("{}: {target}", page.display()));
            } else if !anchor.is_empty() && !headings(&file).contains(anchor) {
                broken.push(format!("{}: {link} (no such heading)", page.display()));
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

/// The fenced blocks of a page whose language is one of `langs`: (page:line, text).
fn blocks(page: &Path, langs: &[&str]) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(page).unwrap();
    let mut found = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut open, line.trim_start().strip_prefix("```")) {
            (None, Some(lang)) => {
                let wanted = langs.contains(&lang.trim());
                open = Some((i + 1, if wanted { String::new() } else { "\0".into() }));
            }
            (Some((at, body)), Some(_)) => {
                if !body.starts_with('\0') {
                    found.push((format!("{}:{at}", page.display()), std::mem::take(body)));
                }
                open = None;
            }
            (Some((_, body)), None) if !body.starts_with('\0') => {
                body.push_str(line);
                body.push('\n');
            }
            _ => {}
        }
    }
    found
}

fn documented(key: &str) -> bool {
    kiln_runner::config::schema::keys::KEYS
        .iter()
        .any(|k| k.key == key)
}

fn has_keys_under(key: &str) -> bool {
    kiln_runner::config::schema::keys::KEYS
        .iter()
        .any(|k| k.key.starts_with(&format!("{key}.")) || k.key.starts_with(&format!("{key}[].")))
}

/// Every key of an experiment table in an example, with its dotted path, that the reference
/// lacks.
fn unknown_keys(table: &toml::Table, prefix: &str, unknown: &mut Vec<String>) {
    for (name, value) in table {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if path == "sweep" {
            match value.as_table() {
                Some(sweep) => sweep_keys(sweep, "sweep", unknown),
                None => unknown.push(path),
            }
            continue;
        }
        match value {
            toml::Value::Table(t) if has_keys_under(&path) => unknown_keys(t, &path, unknown),
            toml::Value::Array(items) if has_keys_under(&format!("{path}[]")) => {
                for item in items.iter().filter_map(|i| i.as_table()) {
                    unknown_keys(item, &format!("{path}[]"), unknown);
                }
            }
            _ if documented(&path) => {}
            _ => unknown.push(path),
        }
    }
}

/// A sweep's own settings, and the config keys it varies (dotted keys read as nested tables).
fn sweep_keys(table: &toml::Table, prefix: &str, unknown: &mut Vec<String>) {
    for (name, value) in table {
        let own = format!("{prefix}.{name}");
        if documented(&own) {
            if let (Some(t), true) = (value.as_table(), has_keys_under(&own)) {
                sweep_keys(t, &own, unknown);
            }
            continue;
        }
        config_key(name, value, unknown);
    }
}

fn config_key(path: &str, value: &toml::Value, unknown: &mut Vec<String>) {
    if documented(path) {
        return;
    }
    match value.as_table() {
        Some(t) => {
            for (name, value) in t {
                config_key(&format!("{path}.{name}"), value, unknown);
            }
        }
        None => unknown.push(path.to_string()),
    }
}

#[test]
fn every_toml_example_in_the_pages_uses_keys_kiln_knows_and_whole_ones_pass_the_checks() {
    let dir = std::env::temp_dir().join(format!("kiln-doc-examples-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut problems, mut whole, mut seen) = (Vec::new(), 0, 0);
    for page in pages() {
        for (at, text) in blocks(&page, &["toml"]) {
            seen += 1;
            let table: toml::Table = match toml::from_str(&text) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(format!("{at}: not TOML: {e}"));
                    continue;
                }
            };
            let mut unknown = Vec::new();
            unknown_keys(&table, "", &mut unknown);
            for key in unknown {
                problems.push(format!("{at}: `{key}` is in no reference"));
            }
            if table.contains_key("task") && table.contains_key("name") {
                whole += 1;
                let file = dir.join(format!("example{whole}.toml"));
                std::fs::write(&file, &text).unwrap();
                if let Err(e) = kiln_runner::config::plan(&file, &[]) {
                    problems.push(format!("{at}: {}", e.0));
                }
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(seen > 10 && whole > 0, "{seen} examples, {whole} whole");
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The `kiln` and `cargo xtask` command lines of a page: in shell blocks (whole commands, to
/// be parsed) and code spans (a command named in prose, with some of its flags).
fn command_lines(page: &Path) -> Vec<(String, String, bool)> {
    let text = std::fs::read_to_string(page).unwrap();
    let mut lines: Vec<(String, String, bool)> = blocks(page, &["sh", "bash", "console", "shell"])
        .into_iter()
        .flat_map(|(at, body)| {
            body.lines()
                .map(|l| (at.clone(), l.to_string(), true))
                .collect::<Vec<_>>()
        })
        .collect();
    // Commands shown with their output: the `$ ` lines of text blocks.
    for (at, body) in blocks(page, &["text"]) {
        for line in body.lines().filter(|l| l.starts_with("$ ")) {
            lines.push((at.clone(), line.to_string(), true));
        }
    }
    for span in text.split('`').skip(1).step_by(2) {
        if span.starts_with("kiln ") || span.starts_with("cargo xtask ") {
            lines.push((page.display().to_string(), span.to_string(), false));
        }
    }
    lines
}

/// The words of a command line from `kiln`/`cargo xtask` to its end, pipe or comment.
fn command_words(line: &str) -> Option<(bool, Vec<String>)> {
    let line = line.trim().trim_start_matches("$ ");
    let (xtask, rest) = match (line.find("cargo xtask"), line.starts_with("kiln ")) {
        (Some(i), _) => (true, &line[i + "cargo xtask".len()..]),
        (None, true) => (false, &line["kiln ".len()..]),
        _ => return None,
    };
    let end = [" #", " |", " &&", ";", " >", " 2>", " \\"]
        .iter()
        .filter_map(|s| rest.find(s))
        .min()
        .unwrap_or(rest.len());
    let (mut words, mut quoted, mut word) = (Vec::new(), None, String::new());
    for c in rest[..end].chars() {
        match (quoted, c) {
            (None, '"' | '\'') => quoted = Some(c),
            (Some(q), c) if c == q => quoted = None,
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            (_, c) => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    Some((xtask, words))
}

/// A command named in prose: it exists and takes every flag shown (values unchecked).
fn named_command(words: &[String]) -> Result<(), String> {
    use clap::CommandFactory;
    let mut kiln = kiln_runner::cli::Cli::command();
    kiln.build();
    let Some(command) = kiln.find_subcommand(&words[0]) else {
        return Err(format!("no command `{}`", words[0]));
    };
    for flag in words[1..].iter().filter(|w| w.starts_with('-')) {
        let flag = flag.split('=').next().unwrap_or_default();
        let known = command.get_arguments().any(|a| {
            a.get_long().is_some_and(|l| flag == format!("--{l}"))
                || a.get_short().is_some_and(|c| flag == format!("-{c}"))
        });
        if !known && flag != "--help" && flag != "-h" {
            return Err(format!("`{}` takes no {flag}", words[0]));
        }
    }
    Ok(())
}

/// A whole command line: kiln's parser takes it as it stands.
fn whole_command(xtask: bool, mut words: Vec<String>) -> Result<(), String> {
    use clap::Parser;
    if xtask && words[0] == "bench" {
        // xtask fills in the bench workloads and the torch venv's Python.
        if !words.iter().any(|w| w.ends_with(".toml")) {
            words.push("experiments/quickstart.toml".into());
        }
        if let Some(i) = words.iter().position(|w| w == "--against-pytorch")
            && words
                .get(i + 1)
                .is_none_or(|n| n.starts_with('-') || n.ends_with(".toml"))
        {
            words.insert(i + 1, "python3".into());
        }
    }
    match kiln_runner::cli::Cli::try_parse_from(std::iter::once("kiln".to_string()).chain(words)) {
        Ok(_) => Ok(()),
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                return Ok(());
            }
            Err(e.to_string().lines().next().unwrap_or_default().to_string())
        }
    }
}

#[test]
fn every_command_the_pages_show_exists_with_the_flags_used() {
    // xtask's own commands and what they take; the rest are kiln's, through xtask or not.
    let xtask_only: &[(&str, &[&str])] =
        &[("lint", &[]), ("docs", &["--open"]), ("setup", &["tch"])];
    let (mut problems, mut checked) = (Vec::new(), 0);
    for page in pages() {
        for (at, line, whole) in command_lines(&page) {
            let Some((xtask, words)) = command_words(&line) else {
                continue;
            };
            let Some(first) = words.first().cloned() else {
                if !xtask {
                    problems.push(format!("{at}: `{line}` names no command"));
                }
                continue;
            };
            // `cargo xtask COMMAND`, `run|check|...`: a placeholder, or several commands.
            if first.chars().all(|c| c.is_ascii_uppercase()) {
                continue;
            }
            for command in first.split('|') {
                checked += 1;
                let mut words = words.clone();
                words[0] = command.to_string();
                let outcome = if xtask && command == "test" {
                    Ok(()) // its arguments go to cargo test
                } else if let Some((_, takes)) = xtask_only.iter().find(|(c, _)| *c == command) {
                    match words[1..].iter().find(|w| !takes.contains(&w.as_str())) {
                        Some(odd) if xtask => Err(format!("xtask {command} takes no {odd}")),
                        _ if !xtask => Err(format!("`{command}` is an xtask command, not kiln's")),
                        _ => Ok(()),
                    }
                } else if xtask
                    && command == "bench"
                    && words.get(1).is_some_and(|w| w == "compare")
                {
                    Ok(())
                } else if whole {
                    whole_command(xtask, words)
                } else {
                    named_command(&words)
                };
                if let Err(e) = outcome {
                    problems.push(format!("{at}: `{line}`: {e}"));
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} command lines found");
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The README quotes measured figures only in its tables, and each must be the one the
/// results pages hold: a figure measured again there and not in the README fails here.
#[test]
fn every_figure_in_the_readmes_tables_is_in_the_results_pages() {
    let root = workspace();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut results = String::new();
    for entry in std::fs::read_dir(root.join("docs/src/results")).unwrap() {
        results += &std::fs::read_to_string(entry.unwrap().path()).unwrap();
    }
    let is_figure = |cell: &str| {
        cell.chars().any(|c| c.is_ascii_digit())
            && cell
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, ',' | '.' | '%' | ' '))
    };
    let figures: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|-") && !l.starts_with("| -"))
        .flat_map(|l| l.split('|').map(str::trim))
        .filter(|cell| is_figure(cell))
        .collect();
    assert!(
        figures.len() >= 4,
        "the README's headline table has figures"
    );
    let missing: Vec<&&str> = figures.iter().filter(|f| !results.contains(**f)).collect();
    assert!(
        missing.is_empty(),
        "README figures not in docs/src/results/: {missing:?}"
    );
}
