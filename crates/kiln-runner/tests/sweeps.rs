//! Sweeps, the run index, `compare` and `report`, through the real binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln_runner::store::metrics_io::read_parquet;

mod common;
use common::{Sandbox, json, stderr, stdout};

/// Two learning rates × two seeds on a slice of the embedded MNIST sample.
const SWEEP: &str = r#"task = "classification"
name = "e2e"

[data]
dataset = "mnist"
source = "sample"
train_limit = 1000
validation_fraction = 0.2

[model]
kind = "mlp"
hidden = [32]

[train]
epochs = 2
batch_size = 32
learning_rate = 2e-3
eval_batch_size = 500

[sweep]
name = "grid"
seeds = [1, 2]
train.learning_rate = [1e-3, 1e-2]
"#;

/// Trial folders of sweep `name`, sorted.
fn trials(sb: &Sandbox, name: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(sb.path().join("results/e2e").join(name))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn ok(o: &std::process::Output) {
    assert!(o.status.success(), "{}\n{}", stdout(o), stderr(o));
}

#[test]
fn sweep_trials_are_grouped_indexed_compared_and_not_run_twice() {
    let sb = Sandbox::new();
    let file = sb.write("sweep.toml", SWEEP);
    let dry = sb.run(&file, &["--dry-run"]);
    ok(&dry);
    assert!(
        stdout(&dry).contains("4 trials, 4 to run"),
        "{}",
        stdout(&dry)
    );
    assert!(
        !sb.path().join("results").exists(),
        "a dry run writes nothing"
    );

    ok(&sb.run(&file, &["--quiet", "-j", "2"]));
    let folders = trials(&sb, "grid");
    let names: Vec<&str> = folders
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(names, ["t001-s1", "t002-s1", "t003-s2", "t004-s2"]);
    let mut accuracy: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for f in &folders {
        let m = json(&f.join("manifest.json"));
        assert_eq!(m["status"], "completed");
        assert_eq!(m["sweep"]["name"], "grid");
        let lr = m["sweep"]["configuration"].as_str().unwrap().to_string();
        accuracy
            .entry(lr)
            .or_default()
            .push(json(&f.join("test.json"))["accuracy"].as_f64().unwrap());
    }
    assert_eq!(accuracy.len(), 2, "{accuracy:?}");

    // Two processes finished at once, and the index kept every row.
    let index = read_parquet(&sb.path().join("results/index.parquet")).unwrap();
    assert_eq!(index.height(), 4);
    let lr = index.column("train.learning_rate").unwrap().f64().unwrap();
    let mut lrs: Vec<f64> = lr.iter().flatten().collect();
    lrs.sort_by(f64::total_cmp);
    assert_eq!(lrs, [1e-3, 1e-3, 1e-2, 1e-2]);

    // Grouped over seeds: the mean and std of each configuration, as computed by hand.
    let out = sb.kiln(&[
        "compare",
        "--sweep",
        "grid",
        "--group-by",
        "configuration",
        "--format",
        "json",
    ]);
    ok(&out);
    let groups: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(groups.as_array().unwrap().len(), 2);
    for g in groups.as_array().unwrap() {
        let acc = &accuracy[g["configuration"].as_str().unwrap()];
        let mean = (acc[0] + acc[1]) / 2.0;
        let std = (acc[0] - acc[1]).abs() / 2f64.sqrt();
        assert_eq!(g["runs"], 2);
        assert!(
            (g["test_accuracy_mean"].as_f64().unwrap() - mean).abs() < 1e-12,
            "{g}"
        );
        assert!(
            (g["test_accuracy_std"].as_f64().unwrap() - std).abs() < 1e-12,
            "{g}"
        );
    }
    let table = sb.kiln(&[
        "compare",
        "--where",
        "train.learning_rate>=0.005",
        "--sort",
        "test_accuracy",
    ]);
    ok(&table);
    let text = stdout(&table);
    assert!(
        text.contains("2 runs") && text.contains("t002-s1") && !text.contains("t001-s1"),
        "{text}"
    );
    let md = sb.kiln(&[
        "compare",
        "--group-by",
        "train.learning_rate",
        "--format",
        "markdown",
        "--charts",
        "charts",
    ]);
    ok(&md);
    assert!(
        stdout(&md).starts_with("| train.learning_rate | runs | test_accuracy"),
        "{}",
        stdout(&md)
    );
    for chart in ["curves", "bars", "scatter"] {
        for ext in ["png", "svg"] {
            let p = sb.path().join("charts").join(format!("{chart}.{ext}"));
            assert!(p.is_file(), "{} missing: {}", p.display(), stderr(&md));
        }
    }
    let bad = sb.kiln(&["compare", "--where", "train.learnin_rate<1"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("did you mean `train.learning_rate`"),
        "{}",
        stderr(&bad)
    );

    // Running the sweep again finds every trial done.
    let again = sb.run(&file, &["--quiet"]);
    ok(&again);
    assert!(
        stdout(&again).contains("4 done already") && stdout(&again).contains("0 to run"),
        "{}",
        stdout(&again)
    );
    assert_eq!(trials(&sb, "grid"), folders);

    // The index rebuilt from the folders equals the one written as the runs went.
    std::fs::remove_file(sb.path().join("results/index.parquet")).unwrap();
    ok(&sb.kiln(&["index", "--rebuild"]));
    let rebuilt = read_parquet(&sb.path().join("results/index.parquet")).unwrap();
    let sort = |f: &polars::prelude::DataFrame| f.sort(["run"], Default::default()).unwrap();
    assert!(sort(&rebuilt).equals_missing(&sort(&index)));
}

/// Children of process `parent`, from /proc.
fn children(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    let after = s.rsplit_once(')')?.1;
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

#[test]
fn a_killed_sweep_runs_again_only_what_is_missing() {
    let sb = Sandbox::new();
    let slow = SWEEP
        .replace("epochs = 2", "epochs = 60")
        .replace("train_limit = 1000", "train_limit = 3000")
        .replace("seeds = [1, 2]", "seeds = [1, 2, 3]");
    let file = sb.write("sweep.toml", &slow);
    let mut parent = sb
        .run_command(&file, &["--quiet", "-j", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = |f: &Path| {
        json(&f.join("manifest.json"))["status"]
            .as_str()
            .map(str::to_string)
    };
    let clock = Instant::now();
    // Kill it once two trials have completed and another is training.
    loop {
        let states: Vec<Option<String>> = trials(&sb, "grid")
            .iter()
            .filter(|f| f.join("manifest.json").is_file())
            .map(|f| status(f))
            .collect();
        let count = |s: &str| states.iter().filter(|x| x.as_deref() == Some(s)).count();
        if count("completed") >= 2 && count("running") >= 1 {
            break;
        }
        assert!(
            parent.try_wait().unwrap().is_none(),
            "the sweep ended before it was killed"
        );
        assert!(
            clock.elapsed() < Duration::from_secs(300),
            "no trial completed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // A hard kill, as a crash or the OOM killer would: no trial gets to write `failed`. The
    // sweep is stopped first so that it starts no trial while its children are killed.
    let kill = |signal: &str, pids: &[u32]| {
        std::process::Command::new("kill")
            .arg(signal)
            .args(pids.iter().map(u32::to_string))
            .status()
            .unwrap()
    };
    assert!(kill("-STOP", &[parent.id()]).success());
    kill("-KILL", &children(parent.id()));
    assert!(kill("-KILL", &[parent.id()]).success());
    parent.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let before: Vec<(PathBuf, Option<String>, Vec<u8>)> = trials(&sb, "grid")
        .into_iter()
        .filter(|f| f.join("manifest.json").is_file())
        .map(|f| {
            let s = status(&f);
            let bytes = std::fs::read(f.join("manifest.json")).unwrap();
            (f, s, bytes)
        })
        .collect();
    let completed: Vec<&PathBuf> = before
        .iter()
        .filter(|(_, s, _)| s.as_deref() == Some("completed"))
        .map(|(f, _, _)| f)
        .collect();
    let left_running: Vec<&PathBuf> = before
        .iter()
        .filter(|(_, s, _)| s.as_deref() == Some("running"))
        .map(|(f, _, _)| f)
        .collect();
    assert!(completed.len() >= 2 && completed.len() < 6, "{before:?}");
    assert!(!left_running.is_empty(), "{before:?}");
    let missing = 6 - completed.len();

    let dry = sb.run(&file, &["--dry-run"]);
    ok(&dry);
    assert!(
        stdout(&dry).contains(&format!("{missing} to run")),
        "{}",
        stdout(&dry)
    );
    let again = sb.run(&file, &["--quiet"]);
    ok(&again);
    assert!(
        stdout(&again).contains(&format!("{} done already", completed.len()))
            && stdout(&again).contains(&format!("{missing} to run")),
        "{}",
        stdout(&again)
    );
    // Counted as `before` was: a trial killed between making its folder and writing its
    // manifest leaves a folder without one, which is not a run.
    let after: Vec<PathBuf> = trials(&sb, "grid")
        .into_iter()
        .filter(|f| f.join("manifest.json").is_file())
        .collect();
    assert_eq!(
        after.len(),
        before.len() + missing - left_running.len(),
        "one new folder per trial that never started; the killed ones resumed in theirs"
    );
    // Completed trials were left alone; the killed ones went on in their own folders.
    for (f, s, bytes) in &before {
        let now = std::fs::read(f.join("manifest.json")).unwrap();
        match s.as_deref() {
            Some("completed") => assert_eq!(&now, bytes, "{} was touched", f.display()),
            Some("running") => {
                let m = json(&f.join("manifest.json"));
                assert_eq!(m["status"], "completed");
                let after = m["resumptions"][0]["after"].as_str().unwrap();
                assert!(after.starts_with("killed"), "{m}");
            }
            other => panic!("unexpected status {other:?}"),
        }
    }
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    for f in &after {
        let m = json(&f.join("manifest.json"));
        if m["status"] == "completed" {
            *keys
                .entry(m["sweep"]["key"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    assert_eq!(keys.len(), 6, "every trial completed once: {keys:?}");
    assert!(keys.values().all(|&n| n == 1));
    eprintln!(
        "killed with {} completed, {} left running, {missing} missing",
        completed.len(),
        left_running.len()
    );
}

#[test]
#[ignore = "needs a headless chromium (Debian's `chromium`): `cargo xtask test` runs it when one is installed"]
fn report_opens_in_headless_chromium() {
    let sb = Sandbox::new();
    let file = sb.write("sweep.toml", &SWEEP.replace("epochs = 2", "epochs = 1"));
    ok(&sb.run(&file, &["--quiet", "-j", "2"]));
    let out = sb.kiln(&[
        "report",
        "--sweep",
        "grid",
        "--group-by",
        "configuration",
        "--out",
        "report.html",
    ]);
    ok(&out);
    let dom = common::page_in_chromium(&sb.path().join("report.html"));
    // Curves, the sweep's best so far against its trial-seconds and against its trials, and
    // bars.
    assert!(
        dom.contains("data-charts-drawn=\"4\"")
            && dom.contains("so far against the trial-seconds")
            && dom.contains("so far against the trials"),
        "charts not laid out: {}",
        &dom[..dom.len().min(300)]
    );
    let comparison = dom
        .split("id=\"comparison\"")
        .nth(1)
        .unwrap()
        .split("</table>")
        .next()
        .unwrap();
    assert_eq!(
        comparison.matches("<tr>").count(),
        3,
        "header and two groups"
    );
    assert!(
        comparison.contains("learning_rate=0.001") && comparison.contains("learning_rate=0.01")
    );
    assert_eq!(
        dom.matches("<details>").count(),
        4,
        "each run's config one click away"
    );
    assert!(dom.contains("[train]"));
}

#[test]
fn ctrl_c_stops_a_sweep_and_records_its_trials_as_interrupted() {
    let sb = Sandbox::new();
    let endless = SWEEP.replace("epochs = 2", "epochs = 100000");
    let file = sb.write("sweep.toml", &endless);
    let parent = sb
        .run_command(&file, &["--quiet", "-j", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let clock = Instant::now();
    while trials(&sb, "grid").len() < 2
        || !trials(&sb, "grid")
            .iter()
            .all(|f| f.join("metrics").is_dir() && f.join("manifest.json").is_file())
    {
        assert!(
            clock.elapsed() < Duration::from_secs(120),
            "the trials did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // Only the sweep gets the signal, as from a terminal: the trials are in their own groups.
    let sent = std::process::Command::new("kill")
        .args(["-INT", &parent.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = parent.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(stdout(&out).contains("2 interrupted"), "{}", stdout(&out));
    let folders = trials(&sb, "grid");
    assert_eq!(folders.len(), 2, "no trial starts after the interrupt");
    for f in folders {
        let m = json(&f.join("manifest.json"));
        assert_eq!(m["status"], "interrupted");
        assert!(
            m["error"].as_str().unwrap().contains("stopped by SIGINT"),
            "{m}"
        );
    }
}
