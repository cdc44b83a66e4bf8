//! Sweeps on a cluster: the scripts and manifests `kiln submit` writes, its refusals, and
//! (ignored unless Slurm is installed: `.ci/run` installs it, `cargo xtask test` runs it) a
//! real one-node Slurm cluster started in a temporary folder, with a trial requeued while it
//! trains.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod common;
use common::{Sandbox, json, stderr, stdout};

const SWEEP: &str = r#"task = "classification"
name = "e2e"
seed = 5

[data]
dataset = "mnist"
source = "sample"
train_limit = 2000
validation_fraction = 0.2

[model]
kind = "mlp"
hidden = [256]
dropout = 0.2

[train]
epochs = 10
batch_size = 32
learning_rate = 1e-3

[checkpoint]
every = "5 steps"

[cluster]
parallel = 2

[sweep]
name = "grid"
seeds = [1, 2, 3]
train.learning_rate = [1e-3, 2e-3]
"#;

#[test]
fn the_slurm_script_runs_each_trial_resumably_with_the_cluster_settings() {
    let sb = Sandbox::new();
    let text = SWEEP.replace(
        "parallel = 2",
        "parallel = 2\npartition = \"gpu\"\ntime = \"02:00:00\"\ncpus = 4\nmemory = \"16G\"\ngpus = 1\naccount = \"lab\"\nextra = [\"--qos=high\"]",
    );
    let file = sb.write("sweep.toml", &text);
    let out = sb.kiln(&["submit", "sweep.toml", "--to", "slurm", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let script = stdout(&out);
    for line in [
        "#SBATCH --array=1-6%2",
        "#SBATCH --requeue",
        "#SBATCH --signal=B:USR1@90",
        "#SBATCH --open-mode=append",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=02:00:00",
        "#SBATCH --account=lab",
        "#SBATCH --mem=16G",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --qos=high",
        "export KILN_PROGRESS_SECONDS=10",
        "--trial \"$SLURM_ARRAY_TASK_ID\"",
        "logs/trial-%a.log",
    ] {
        assert!(script.contains(line), "{line} missing from:\n{script}");
    }
    assert!(script.contains(&file.display().to_string()), "{script}");
    // A dry run submits nothing and records nothing.
    assert!(!sb.path().join("results/e2e/grid/cluster").exists());

    // Trials completed already are left out of the array.
    let one = sb.run(&file, &["--quiet", "--trial", "2"]);
    assert!(one.status.success(), "{}", stderr(&one));
    let out = sb.kiln(&["submit", "sweep.toml", "--to", "slurm", "--dry-run"]);
    assert!(
        stdout(&out).contains("#SBATCH --array=1,3-6%2"),
        "{}",
        stdout(&out)
    );
    // Running a completed trial's task again does nothing.
    let again = sb.run(&file, &["--trial", "2"]);
    assert!(again.status.success());
    assert!(
        stdout(&again).contains("trial 2 completed already"),
        "{}",
        stdout(&again)
    );
    assert_eq!(
        std::fs::read_dir(sb.path().join("results/e2e/grid"))
            .unwrap()
            .count(),
        1
    );
}

#[test]
fn the_kubernetes_job_is_indexed_over_every_trial() {
    let sb = Sandbox::new();
    let text = SWEEP.replace(
        "parallel = 2",
        "parallel = 2\nimage = \"registry.example/kiln:1\"\nnamespace = \"ml\"\nvolume = \"kiln-results\"\ncpus = 2\nmemory = \"4G\"",
    );
    sb.write("sweep.toml", &text);
    let out = sb.kiln(&["submit", "sweep.toml", "--to", "kubernetes", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let job: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(job["apiVersion"], "batch/v1");
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["metadata"]["namespace"], "ml");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], 6);
    assert_eq!(spec["parallelism"], 2);
    assert_eq!(
        spec["podFailurePolicy"]["rules"][1]["onExitCodes"]["values"][0],
        75
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "registry.example/kiln:1");
    let command = container["command"][2].as_str().unwrap();
    assert!(
        command.contains("--trial $((JOB_COMPLETION_INDEX + 1))"),
        "{command}"
    );
    assert_eq!(container["resources"]["limits"]["memory"], "4Gi");
    assert_eq!(container["resources"]["limits"]["cpu"], "2");
    let results = sb.path().join("results").display().to_string();
    assert_eq!(container["volumeMounts"][0]["mountPath"], results.as_str());
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "kiln-results"
    );
}

#[test]
fn bad_cluster_settings_and_a_missing_sbatch_are_named() {
    let sb = Sandbox::new();
    for (setting, needle) in [
        ("partiton = \"gpu\"", "did you mean `partition`"),
        ("time = \"2h\"", "is not a Slurm time"),
        ("memory = \"lots\"", "is not an amount of memory"),
        ("extra = [\"qos=high\"]", "each entry is one sbatch option"),
    ] {
        sb.write("bad.toml", &SWEEP.replace("parallel = 2", setting));
        let out = sb.kiln(&["submit", "bad.toml", "--to", "slurm", "--dry-run"]);
        assert!(!out.status.success(), "{setting}");
        let err = stderr(&out);
        assert!(
            err.contains(needle) && err.contains("bad.toml"),
            "{setting}: {err}"
        );
    }
    // A file without a sweep has nothing to submit.
    let single = SWEEP.split("[sweep]").next().unwrap();
    sb.write("single.toml", single);
    let out = sb.kiln(&["submit", "single.toml", "--to", "slurm"]);
    assert!(stderr(&out).contains("no [sweep]"), "{}", stderr(&out));
    // No sbatch on the PATH: said, and no job recorded.
    sb.write("sweep.toml", SWEEP);
    let out = sb
        .command(&["submit", "sweep.toml", "--to", "slurm"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("sbatch is not on the PATH"),
        "{}",
        stderr(&out)
    );
    assert!(
        !sb.path()
            .join("results/e2e/grid/cluster/jobs.json")
            .exists()
    );
}

/// A one-node Slurm cluster of this machine in a temporary folder (munged, slurmctld,
/// slurmd, on free ports), stopped when dropped.
struct Slurm {
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Slurm {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["state", "spool", "munge"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let mut key = vec![0u8; 1024];
        use std::io::Read;
        std::fs::File::open("/dev/urandom")
            .unwrap()
            .read_exact(&mut key)
            .unwrap();
        let key_file = d.join("munge/munge.key");
        std::fs::write(&key_file, key).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join("munge"), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let socket = d.join("munge/munge.socket");
        let munged = Command::new("munged")
            .arg("--force")
            .arg(format!("--key-file={}", key_file.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!(
                "--pid-file={}",
                d.join("munge/munged.pid").display()
            ))
            .arg(format!(
                "--log-file={}",
                d.join("munge/munged.log").display()
            ))
            .arg(format!("--seed-file={}", d.join("munge/seed").display()))
            .status()
            .expect("munged (Debian's munge) is installed");
        assert!(munged.success(), "munged did not start");
        let host = String::from_utf8(Command::new("hostname").arg("-s").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        let conf = format!(
            "ClusterName=kiln\nSlurmctldHost={host}\nSlurmUser={user}\nSlurmdUser={user}\n\
             SlurmctldPort={}\nSlurmdPort={}\nAuthType=auth/munge\nAuthInfo=socket={}\n\
             CredType=cred/munge\nProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
             SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n\
             StateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\n\
             SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
             SlurmctldLogFile={d}/slurmctld.log\nSlurmdLogFile={d}/slurmd.log\n\
             ReturnToService=2\nMpiDefault=none\nJobCompType=jobcomp/none\n\
             AccountingStorageType=accounting_storage/none\nSchedulerParameters=sched_interval=1\n\
             NodeName={host} CPUs={} State=UNKNOWN\n\
             PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
            free_port(),
            free_port(),
            socket.display(),
            std::thread::available_parallelism().map_or(2, |n| n.get()),
            d = d.display(),
        );
        std::fs::write(d.join("slurm.conf"), conf).unwrap();
        let slurm = Self { dir };
        for daemon in [vec!["slurmctld", "-c"], vec!["slurmd"]] {
            let ok = slurm
                .command(daemon[0])
                .args(&daemon[1..])
                .status()
                .unwrap();
            assert!(ok.success(), "{} did not start", daemon[0]);
        }
        let clock = Instant::now();
        loop {
            let out = slurm
                .command("sinfo")
                .args(["-h", "-o", "%T"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).trim() == "idle" {
                break slurm;
            }
            assert!(
                clock.elapsed() < Duration::from_secs(60),
                "the node never came up: {}",
                std::fs::read_to_string(slurm.dir.path().join("slurmctld.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", self.conf());
        c
    }

    /// The sweep's tasks Slurm still holds.
    fn queued(&self) -> usize {
        let out = self.command("squeue").args(["-h", "-r"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        for pid in ["slurmd.pid", "slurmctld.pid", "munge/munged.pid"] {
            if let Ok(pid) = std::fs::read_to_string(self.dir.path().join(pid)) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
    }
}

fn trial_folder(sb: &Sandbox, trial: usize) -> Option<PathBuf> {
    std::fs::read_dir(sb.path().join("results/e2e/grid"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&format!("t{trial:03}-")))
        })
}

/// The processes of task `task` of Slurm array job `job` (the batch shell, the search worker
/// and the job it runs), found by the variables Slurm gives them.
fn slurm_task_processes(job: &str, task: &str) -> Vec<u32> {
    let want = [
        format!("SLURM_ARRAY_JOB_ID={job}"),
        format!("SLURM_ARRAY_TASK_ID={task}"),
    ];
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                let vars: Vec<&[u8]> = env.split(|b| *b == 0).collect();
                want.iter().all(|w| vars.contains(&w.as_bytes()))
            })
        })
        .collect()
}

fn signal(name: &str, pids: &[u32]) {
    if !pids.is_empty() {
        let _ = Command::new("kill")
            .arg(format!("-{name}"))
            .args(pids.iter().map(u32::to_string))
            .status();
    }
}

/// A process's parent and state letter, from /proc/PID/stat.
fn parent_and_state(pid: u32) -> Option<(u32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    Some((rest.next()?.parse().ok()?, state))
}

/// Stops every process of the Slurm task once `busy` says, of the stopped processes, that
/// the task is in the middle of its work, and returns them (stopped); so that a requeue
/// lands mid-training however short the work is.
fn hold_while(job: &str, task: &str, busy: impl Fn(&[u32]) -> bool) -> Vec<u32> {
    let clock = Instant::now();
    loop {
        assert!(
            clock.elapsed() < Duration::from_secs(120),
            "task {task} was never caught at work"
        );
        // Twice, so that a job process spawned while the first pass ran is held too.
        let mut held = slurm_task_processes(job, task);
        signal("STOP", &held);
        let more: Vec<u32> = slurm_task_processes(job, task)
            .into_iter()
            .filter(|p| !held.contains(p))
            .collect();
        signal("STOP", &more);
        held.extend(more);
        if busy(&held) {
            return held;
        }
        signal("CONT", &held);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Requeues Slurm task `task` while its processes are `held` (stopped by [`hold_while`]),
/// and lets them go once the requeue's signal has reached them: Slurm signals a task
/// asynchronously, and released first, the held work could finish before the signal lands.
fn requeue_held(slurm: &Slurm, task: &str, held: &[u32]) {
    let requeued = slurm
        .command("scontrol")
        .args(["requeue", task])
        .output()
        .unwrap();
    assert!(requeued.status.success(), "{}", stderr(&requeued));
    let clock = Instant::now();
    while !requeue_arrived(held) && clock.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    signal("CONT", held);
}

/// Whether Slurm's requeue has reached `held` (stopped by [`hold_while`]): one of them has
/// SIGTERM pending, was continued by Slurm, or is gone.
fn requeue_arrived(held: &[u32]) -> bool {
    let term_pending = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_or(true, |status| {
            status
                .lines()
                .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
                .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
                .any(|mask| mask & (1 << (15 - 1)) != 0)
        })
    };
    held.iter()
        .any(|&p| parent_and_state(p).is_none_or(|(_, state)| state != 'T' || term_pending(p)))
}

/// Whether a search worker among `held` holds a job (started, not ended in the journal)
/// whose training process is alive.
fn worker_mid_job(journal: &std::path::Path, held: &[u32]) -> bool {
    let records: Vec<serde_json::Value> = std::fs::read_to_string(journal)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let holds_a_job = |pid: u32| {
        let mut holding = None;
        for r in &records {
            if r["event"] == "start" && r["worker"]["pid"] == pid {
                holding = r["job"].as_u64();
            } else if r["event"] == "end" && r["job"].as_u64() == holding {
                holding = None;
            }
        }
        holding.is_some()
    };
    let training = |worker: u32| {
        held.iter().any(|&p| {
            parent_and_state(p).is_some_and(|(parent, state)| parent == worker && state != 'Z')
        })
    };
    held.iter().any(|&w| holds_a_job(w) && training(w))
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let clock = Instant::now();
    while !done() {
        assert!(clock.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs Slurm (slurm-wlm and munge, as root): .ci/run installs them, cargo xtask test runs it"]
fn a_sweep_on_slurm_survives_a_requeue_and_completes_every_trial_once() {
    let slurm = Slurm::start();
    let sb = Sandbox::new();
    sb.write("sweep.toml", SWEEP);
    let kiln = |args: &[&str]| -> Output {
        sb.command(args)
            .env("SLURM_CONF", slurm.conf())
            .output()
            .unwrap()
    };
    let clock = Instant::now();
    // Two submits at once: one submits the six trials, the other finds them queued.
    let submit = || {
        sb.command(&["submit", "sweep.toml", "--to", "slurm"])
            .env("SLURM_CONF", slurm.conf())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (submit(), submit());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (out, other) = if a.status.success() { (a, b) } else { (b, a) };
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !other.status.success(),
        "both submitted: {}",
        stdout(&other)
    );
    assert!(
        stderr(&other).contains("nothing left to run (0 of 6 trials completed; trial 1 is"),
        "{}",
        stderr(&other)
    );
    let jobs = json(&sb.path().join("results/e2e/grid/cluster/jobs.json"));
    assert_eq!(jobs.as_array().unwrap().len(), 1, "{jobs}");
    let job = jobs[0]["id"].as_str().unwrap().to_string();
    assert!(stdout(&out).contains(&format!("submitted job {job}")));

    // Requeue trial 1 once it has a checkpoint, then let it start again at once (Slurm
    // holds a requeued task for two minutes otherwise).
    wait_for(
        "trial 1's first checkpoint",
        Duration::from_secs(120),
        || {
            trial_folder(&sb, 1).is_some_and(|d| {
                std::fs::read_dir(d.join("checkpoints")).is_ok_and(|mut e| {
                    e.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("step-")))
                })
            })
        },
    );
    let held = hold_while(&job, "1", |_| {
        trial_folder(&sb, 1).is_some_and(|d| json(&d.join("manifest.json"))["status"] == "running")
    });
    let task = format!("{job}_1");
    requeue_held(&slurm, &task, &held);
    wait_for("trial 1 to stop", Duration::from_secs(60), || {
        trial_folder(&sb, 1)
            .is_some_and(|d| json(&d.join("manifest.json"))["status"] == "interrupted")
    });
    let status = kiln(&["status", "sweep.toml"]);
    assert!(status.status.success(), "{}", stderr(&status));
    let now = slurm
        .command("scontrol")
        .args(["update", &format!("JobId={task}"), "StartTime=now"])
        .output()
        .unwrap();
    assert!(now.status.success(), "{}", stderr(&now));
    wait_for(
        "every task to leave the queue",
        Duration::from_secs(600),
        || slurm.queued() == 0,
    );
    let wall = clock.elapsed();

    // Six folders, each completed once; trial 1 went on from its checkpoint.
    let folders: Vec<PathBuf> = std::fs::read_dir(sb.path().join("results/e2e/grid"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("manifest.json").is_file())
        .collect();
    assert_eq!(folders.len(), 6, "{folders:?}");
    let mut keys: Vec<String> = folders
        .iter()
        .map(|f| {
            let m = json(&f.join("manifest.json"));
            assert_eq!(m["status"], "completed", "{m}");
            assert_eq!(m["scheduler"]["job"], job.as_str());
            m["sweep"]["key"].as_str().unwrap().to_string()
        })
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 6);
    let first = json(&trial_folder(&sb, 1).unwrap().join("manifest.json"));
    let from = first["resumptions"][0]["from_step"].as_u64().unwrap();
    assert!(from > 0, "{first}");
    assert!(
        first["resumptions"][0]["after"]
            .as_str()
            .unwrap()
            .contains("SIGTERM")
    );
    let log = std::fs::read_to_string(sb.path().join("results/e2e/grid/logs/trial-1.log")).unwrap();
    assert!(
        log.contains("attempt 1") && log.contains("attempt 2"),
        "{log}"
    );
    assert!(
        log.contains(&format!("from its checkpoint after step {from}")),
        "{log}"
    );

    let compare = kiln(&["compare", "--sweep", "grid", "--format", "csv"]);
    assert_eq!(
        stdout(&compare).lines().count(),
        1 + 6,
        "{}",
        stdout(&compare)
    );
    let status = kiln(&["status", "sweep.toml"]);
    assert!(
        stdout(&status).contains("6 completed"),
        "{}",
        stdout(&status)
    );
    // Nothing is submitted twice.
    let again = kiln(&["submit", "sweep.toml", "--to", "slurm"]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("nothing left to run (6 of 6 trials completed"),
        "{}",
        stderr(&again)
    );
    // sbatch refusing the script is said with sbatch's own words.
    sb.write(
        "other.toml",
        &SWEEP
            .replace("name = \"grid\"", "name = \"other\"")
            .replace("parallel = 2", "partition = \"nope\""),
    );
    let refused = kiln(&["submit", "other.toml", "--to", "slurm"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("sbatch refused") && stderr(&refused).contains("partition"),
        "{}",
        stderr(&refused)
    );
    eprintln!(
        "6 trials on a one-node Slurm, trial 1 requeued after a checkpoint and resumed from step {from}: {:.1} s",
        wall.as_secs_f64()
    );
}

/// A search whose trials train long enough to be requeued mid-job.
const SEARCH: &str = r#"task = "classification"
name = "e2e"
seed = 5

[data]
dataset = "mnist"
source = "sample"
train_limit = 2000
validation_fraction = 0.2

[model]
kind = "mlp"
hidden = [256]

[train]
epochs = 9
batch_size = 32
learning_rate = 1e-3
monitor = "val_accuracy"

[checkpoint]
every = "5 steps"

[cluster]
parallel = 2

[sweep]
name = "search"

[sweep.search]
sampler = "random"
budget = 8
seed = 4
pruner = "asha"
min_epochs = 1
reduction = 3
train.learning_rate = { log_uniform = [1e-4, 1e-2] }
model.dropout = { uniform = [0.0, 0.5] }
"#;

#[test]
#[ignore = "needs Slurm (slurm-wlm and munge, as root): .ci/run installs them, cargo xtask test runs it"]
fn a_search_on_slurm_shares_its_journal_between_workers_and_survives_a_requeue() {
    let slurm = Slurm::start();
    let sb = Sandbox::new();
    sb.write("search.toml", SEARCH);
    let kiln = |args: &[&str]| -> Output {
        sb.command(args)
            .env("SLURM_CONF", slurm.conf())
            .output()
            .unwrap()
    };
    let out = kiln(&["submit", "search.toml", "--to", "slurm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("2 workers"), "{}", stdout(&out));
    let again = kiln(&["submit", "search.toml", "--to", "slurm"]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("workers are"), "{}", stderr(&again));
    let jobs = json(&sb.path().join("results/e2e/search/cluster/jobs.json"));
    let job = jobs[0]["id"].as_str().unwrap().to_string();
    let journal = sb.path().join("results/e2e/search/journal.jsonl");
    let starts = || {
        std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"event\":\"start\""))
            .count()
    };
    // Requeue worker 1 while one of its jobs trains: its processes are held still (SIGSTOP)
    // until the journal shows it holding a job whose training process is alive, so that the
    // requeue cannot land between two jobs however short they are.
    wait_for("a few jobs", Duration::from_secs(120), || starts() >= 3);
    let held = hold_while(&job, "1", |held| worker_mid_job(&journal, held));
    let task = format!("{job}_1");
    requeue_held(&slurm, &task, &held);
    std::thread::sleep(Duration::from_secs(2));
    let now = slurm
        .command("scontrol")
        .args(["update", &format!("JobId={task}"), "StartTime=now"])
        .output()
        .unwrap();
    assert!(now.status.success(), "{}", stderr(&now));
    wait_for(
        "both workers to leave the queue",
        Duration::from_secs(600),
        || slurm.queued() == 0,
    );
    // Every job ended once, every trial is one folder, and the trials are those a search
    // on this machine alone chooses.
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let decided: Vec<(u64, u64, serde_json::Value)> = records
        .iter()
        .filter(|r| r["event"] == "job")
        .map(|r| {
            (
                r["trial"].as_u64().unwrap(),
                r["until"].as_u64().unwrap(),
                r["values"].clone(),
            )
        })
        .collect();
    let mut ended: Vec<u64> = records
        .iter()
        .filter(|r| r["event"] == "end")
        .map(|r| r["job"].as_u64().unwrap())
        .collect();
    ended.sort();
    ended.dedup();
    assert_eq!(ended, (0..decided.len() as u64).collect::<Vec<_>>());
    let taken = records.iter().filter(|r| r["event"] == "start").count();
    assert!(
        taken > decided.len(),
        "the requeued worker's job was never taken over"
    );
    let folders: Vec<PathBuf> = std::fs::read_dir(sb.path().join("results/e2e/search"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("manifest.json").is_file())
        .collect();
    assert_eq!(folders.len(), 8, "{folders:?}");
    for f in &folders {
        let m = json(&f.join("manifest.json"));
        assert!(m["status"] == "pruned" || m["status"] == "completed", "{m}");
        assert_eq!(m["scheduler"]["job"], job.as_str());
    }
    let log =
        std::fs::read_to_string(sb.path().join("results/e2e/search/logs/trial-1.log")).unwrap();
    assert!(
        log.contains("worker 1") && log.contains("attempt 2"),
        "{log}"
    );
    let local = sb
        .command(&["--quiet", "run", "search.toml", "--results", "local"])
        .output()
        .unwrap();
    assert!(local.status.success(), "{}", stderr(&local));
    let here: Vec<(u64, u64, serde_json::Value)> =
        std::fs::read_to_string(sb.path().join("local/e2e/search/journal.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["event"] == "job")
            .map(|r| {
                (
                    r["trial"].as_u64().unwrap(),
                    r["until"].as_u64().unwrap(),
                    r["values"].clone(),
                )
            })
            .collect();
    assert_eq!(
        decided,
        here,
        "{}\n{}",
        std::fs::read_to_string(&journal).unwrap(),
        std::fs::read_to_string(sb.path().join("local/e2e/search/journal.jsonl")).unwrap()
    );
    let status = kiln(&["status", "search.toml"]);
    assert!(
        stdout(&status).contains("the search is done"),
        "{}",
        stdout(&status)
    );
    let again = kiln(&["submit", "search.toml", "--to", "slurm"]);
    assert!(
        stderr(&again).contains("nothing left to run"),
        "{}",
        stderr(&again)
    );
}
