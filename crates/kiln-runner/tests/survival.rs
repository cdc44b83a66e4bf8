//! Runs that end badly: killed outright, run on data too small for them, or used before
//! they completed. Each keeps what it finished and says what is wrong.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

mod common;
use common::{Sandbox, json, stderr, stdout};

const LONG: &str = r#"task = "classification"
name = "e2e"
seed = 5

[data]
dataset = "mnist"
source = "sample"
train_limit = 600
validation_fraction = 0.2

[model]
kind = "mlp"
hidden = [16]

[train]
epochs = 400
batch_size = 32
learning_rate = 1e-3
"#;

fn experiment(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../experiments")
        .join(format!("{name}.toml"))
}

#[test]
fn a_killed_run_keeps_every_epoch_it_finished() {
    let sb = Sandbox::new();
    let file = sb.write("long.toml", LONG);
    let mut child = sb
        .run_command(&file, &[])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the third epoch has been logged, then kill without warning.
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut logged = 0;
    for line in lines {
        let line = line.unwrap();
        if line.contains("/400: train loss") {
            logged += 1;
            if logged == 3 {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(logged, 3, "the run never logged three epochs");

    let runs = sb.runs("e2e");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let epochs = std::fs::read_to_string(run.join("metrics/epochs.csv")).unwrap();
    // The third epoch's line is logged just before its tables are written.
    let rows = epochs.lines().count() - 1;
    assert!(rows >= 2, "{rows} epochs kept:\n{epochs}");
    for (n, line) in epochs.lines().skip(1).enumerate() {
        assert!(line.starts_with(&format!("{},", n + 1)), "{line}");
    }
    assert!(run.join("metrics/epochs.parquet").is_file());
    assert!(run.join("metrics/steps.csv").is_file());
    for chart in ["loss.png", "loss.svg", "accuracy.png"] {
        let path = run.join("charts").join(chart);
        assert!(
            std::fs::metadata(&path).is_ok_and(|m| m.len() > 0),
            "{}",
            path.display()
        );
    }
    let strays: Vec<String> = std::fs::read_dir(run.join("charts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(strays.len() <= 1, "partial charts left: {strays:?}");

    // Its folder still says `running`; compare sees that its process is gone.
    assert_eq!(json(&run.join("manifest.json"))["status"], "running");
    let out = sb.kiln(&["compare", "--status", "interrupted", "--format", "csv"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(table.lines().count(), 2, "{table}");
    let out = sb.kiln(&["compare", "--status", "running", "--format", "csv"]);
    assert!(!out.status.success(), "a killed run listed as running");
}

#[test]
fn without_a_terminal_a_progress_line_comes_during_the_epoch() {
    let sb = Sandbox::new();
    let file = sb.write("short.toml", &LONG.replace("epochs = 400", "epochs = 1"));
    let out = sb
        .run_command(&file, &[])
        .env("KILN_PROGRESS_SECONDS", "0")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("epoch 1/1: batch 1/15 (7 %), loss "), "{err}");
    assert!(err.contains("epoch 1/1: batch 15/15 (100 %)"), "{err}");
}

#[test]
fn data_too_small_for_the_split_is_refused_before_a_folder_exists() {
    let sb = Sandbox::new();
    let file = sb.write(
        "tiny.toml",
        &LONG.replace("train_limit = 600", "train_limit = 2"),
    );
    let out = sb.run(&file, &[]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("too small for `train.monitor` = val_loss")
            && err.contains("2 training and 0 validation items"),
        "{err}"
    );
    assert_eq!(err.matches("too small").count(), 1, "said twice: {err}");
    assert!(sb.runs("e2e").is_empty(), "a refused run left a folder");

    // A pairs file of one line: nothing left to validate on either.
    sb.write("pairs.tsv", "one\tuno\n");
    let pairs = sb.write(
        "pairs.toml",
        "task = \"translation\"\nname = \"e2e\"\n[data]\ndataset = \"pairs\"\npath = \"pairs.tsv\"\n\
         [model]\nkind = \"seq2seq\"\ncell = \"gru\"\nhidden = 8\n\
         [train]\nepochs = 1\nbatch_size = 4\nlearning_rate = 1e-2\n",
    );
    let out = sb.run(&pairs, &[]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("pairs.tsv") && err.contains("too small"),
        "{err}"
    );
    assert!(sb.runs("e2e").is_empty(), "a refused run left a folder");
}

#[test]
fn an_unfinished_run_is_used_only_when_asked() {
    let sb = Sandbox::new();
    let out = sb.run(
        &experiment("charlstm_shakespeare"),
        &[
            "--quiet",
            "--set",
            "train.epochs=1",
            "--set",
            "data.source=sample",
            "--set",
            "data.train_limit=20000",
            "--set",
            "model.hidden=16",
            "--set",
            "generation.length=10",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let run = sb.runs("charlstm_shakespeare").remove(0);
    let dir = run.to_str().unwrap();
    // As a run that failed in its second epoch leaves it.
    let manifest = run.join("manifest.json");
    let mut m = json(&manifest);
    m["status"] = "failed".into();
    m["error"] = "training diverged".into();
    std::fs::write(&manifest, m.to_string()).unwrap();

    let refused = sb.kiln(&["generate", dir, "--length", "5"]);
    let err = stderr(&refused);
    assert!(!refused.status.success());
    assert!(
        err.contains("the run failed (training diverged)") && err.contains("--unfinished"),
        "{err}"
    );
    assert!(refused.stdout.is_empty());

    let used = sb.kiln(&["generate", dir, "--length", "5", "--unfinished"]);
    assert!(used.status.success(), "{}", stderr(&used));
    assert!(stderr(&used).contains("warning:"));
    assert!(!used.stdout.is_empty());
}

#[test]
fn a_model_too_large_for_the_machine_is_refused_with_the_figures() {
    let sb = Sandbox::new();
    let file = sb.write(
        "huge.toml",
        &LONG.replace("hidden = [16]", "hidden = [1000000, 1000000]"),
    );
    let out = sb.run(&file, &[]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("huge.toml")
            && err.contains(" parameters need about ")
            && err.contains("GiB available")
            && err.contains("KILN_SKIP_MEMORY_CHECK"),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("memory allocation"),
        "{err}"
    );
    assert!(sb.runs("e2e").is_empty(), "a refused run left a folder");
}

/// A new memory cgroup limited to `bytes`, and the file a process joins it through; or why
/// none can be made here (not root, no memory controller, a read-only hierarchy).
fn memory_cgroup(bytes: u64) -> Result<(PathBuf, PathBuf), String> {
    // Tests run at once in one process: a cgroup each.
    static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("kiln-test-{}-{n}", std::process::id());
    let v2 = Path::new("/sys/fs/cgroup");
    let v1 = Path::new("/sys/fs/cgroup/memory");
    let (dir, limit) = if std::fs::read_to_string(v2.join("cgroup.controllers"))
        .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"))
    {
        (v2.join(&name), "memory.max")
    } else if v1.join("memory.limit_in_bytes").exists() {
        (v1.join(&name), "memory.limit_in_bytes")
    } else {
        return Err("no memory cgroup controller is mounted".into());
    };
    std::fs::create_dir(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    if let Err(e) = std::fs::write(dir.join(limit), bytes.to_string()) {
        let _ = std::fs::remove_dir(&dir);
        return Err(format!("cannot limit {}: {e}", dir.display()));
    }
    let procs = dir.join("cgroup.procs");
    Ok((dir, procs))
}

/// The `[train]` table of the experiments refused before they train.
const ONE_SHORT_EPOCH: &str = "\n[train]\nepochs = 1\nbatch_size = 8\nlearning_rate = 1e-3\n";

/// `experiment` (what it trains from, and on) with one short epoch, refused in a cgroup of
/// 1 GiB: a kiln built with libtorch needs a fifth of that just to start.
fn refused_in_a_1_gib_cgroup(sb: &Sandbox, experiment: &str, needles: &[&str]) {
    let Some((group, procs)) = cgroup_or_skip(1 << 30) else {
        return;
    };
    let file = sb.write("refused.toml", &format!("{experiment}{ONE_SHORT_EPOCH}"));
    refused_in_cgroup(sb, &file, (&group, &procs), needles);
}

/// `memory_cgroup`, or `None` with the reason on stderr where none can be made.
fn cgroup_or_skip(bytes: u64) -> Option<(PathBuf, PathBuf)> {
    memory_cgroup(bytes)
        .map_err(|why| eprintln!("skipped: {why}"))
        .ok()
}

/// A sandbox with the long experiment's MLP widened to `hidden`, and a memory cgroup of
/// `bytes` (its folder and `cgroup.procs`); `None`, said on stderr, where none can be made.
fn wide_in_cgroup(hidden: &str, bytes: u64) -> Option<(Sandbox, PathBuf, PathBuf, PathBuf)> {
    let (group, procs) = cgroup_or_skip(bytes)?;
    let sb = Sandbox::new();
    let file = sb.write(
        "wide.toml",
        &LONG.replace("hidden = [16]", &format!("hidden = {hidden}")),
    );
    Some((sb, file, group, procs))
}

/// Runs `file` in the cgroup (removed afterwards) and checks that it was refused with a
/// message naming the cgroup and each of `needles`, leaving no run folder.
fn refused_in_cgroup(sb: &Sandbox, file: &Path, (group, procs): (&Path, &Path), needles: &[&str]) {
    let out = in_cgroup(sb.run_command(file, &[]), procs)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir(group);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&group.display().to_string()), "{err}");
    for n in needles {
        assert!(err.contains(n), "message lacks `{n}`: {err}");
    }
    assert!(sb.runs("e2e").is_empty(), "a refused run left a folder");
}

/// `kiln` as a process that joins the cgroup whose `cgroup.procs` is `procs` before it
/// starts, with the same arguments, folder and environment.
fn in_cgroup(kiln: std::process::Command, procs: &Path) -> std::process::Command {
    let mut joined = std::process::Command::new("sh");
    joined
        .arg("-c")
        .arg(format!(
            "echo $$ > {} && exec \"$0\" \"$@\"",
            procs.display()
        ))
        .arg(kiln.get_program())
        .args(kiln.get_args());
    if let Some(dir) = kiln.get_current_dir() {
        joined.current_dir(dir);
    }
    for (key, value) in kiln.get_envs() {
        match value {
            Some(v) => joined.env(key, v),
            None => joined.env_remove(key),
        };
    }
    joined
}

#[test]
fn a_run_the_kernel_kills_for_memory_is_shown_killed_for_memory() {
    // About 50 million parameters: their weights fit in 600 MiB, training them with Adam
    // does not; the memory check is skipped so that the kernel has to step in.
    let Some((sb, file, group, procs)) = wide_in_cgroup("[20000, 1700]", 600 << 20) else {
        return;
    };
    let mut kiln = sb.run_command(&file, &[]);
    kiln.env("KILN_SKIP_MEMORY_CHECK", "1");
    let out = in_cgroup(kiln, &procs).output().unwrap();
    let shown = |args: &[&str]| stdout(&sb.command(args).output().unwrap());
    let runs = sb.runs("e2e");
    let (show, compare) = match runs.as_slice() {
        [run] => (
            shown(&["show", &run.display().to_string()]),
            shown(&[
                "compare",
                "--status",
                "all",
                "-m",
                "status,error",
                "--format",
                "csv",
            ]),
        ),
        _ => (String::new(), String::new()),
    };
    let _ = std::fs::remove_dir(&group);
    assert!(!out.status.success(), "{}", stderr(&out));
    assert_eq!(runs.len(), 1, "the weights fit: the run starts, then dies");
    assert!(
        show.contains("interrupted") && show.contains("killed, probably for memory"),
        "{show}"
    );
    assert!(compare.contains("killed, probably for memory"), "{compare}");
}

#[test]
fn a_model_too_large_for_its_memory_cgroup_is_refused_though_the_machine_has_room() {
    // About 216 million parameters: some 4 GiB to train with Adam, which this machine has
    // but a 1 GiB cgroup does not.
    let Some((sb, file, group, procs)) = wide_in_cgroup("[20000, 10000]", 1 << 30) else {
        return;
    };
    refused_in_cgroup(
        &sb,
        &file,
        (&group, &procs),
        &["its memory cgroup (", "GiB available"],
    );
}

#[test]
fn a_table_too_large_for_its_memory_cgroup_is_refused_before_it_is_read() {
    // A 700 MB CSV needs at least 1.4 GB to be read (its text, then its columns); the
    // cgroup allows 1 GiB. The file is sparse: refused by its size, it is never read.
    let sb = Sandbox::new();
    let table = std::fs::File::create(sb.path().join("rows.csv")).unwrap();
    table.set_len(700_000_000).unwrap();
    refused_in_a_1_gib_cgroup(
        &sb,
        r#"task = "classification"
name = "e2e"

[data]
dataset = "table"
path = "rows.csv"
target = "label"

[model]
kind = "tabular"
"#,
        &[
            "rows.csv",
            "reading this table takes at least 1.3 GiB",
            "a sample of the rows",
        ],
    );
}

#[test]
fn an_image_folder_too_large_for_its_memory_cgroup_is_refused_before_it_is_decoded() {
    // 40 images at 4096x4096 in RGB take 1.9 GiB decoded; the cgroup allows 1 GiB, which a
    // kiln built with libtorch needs a fifth of just to start.
    let sb = Sandbox::new();
    for class in ["a", "b"] {
        let dir = sb.path().join("pictures").join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..20 {
            image::GrayImage::from_pixel(8, 8, image::Luma([i * 10]))
                .save(dir.join(format!("{i}.png")))
                .unwrap();
        }
    }
    refused_in_a_1_gib_cgroup(
        &sb,
        r#"task = "classification"
name = "e2e"

[data]
dataset = "images"
path = "pictures"
size = [4096, 4096]
channels = 3

[model]
kind = "mlp"
hidden = [8]
"#,
        &["40 images of 3x4096x4096", "data.size"],
    );
}
