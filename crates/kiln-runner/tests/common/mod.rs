//! What the integration tests share: a sandbox folder and the real `kiln` binary run in it.
// Each test crate uses a different part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// The kiln binary, run in the sandbox, blind to the caller's KILN_DATASETS.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kiln"));
        c.args(args)
            .current_dir(self.path())
            .env_remove("KILN_DATASETS");
        c
    }

    pub fn kiln(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `kiln run FILE --results results EXTRA...`, not started yet.
    pub fn run_command(&self, file: &Path, extra: &[&str]) -> Command {
        let mut args = vec!["run", file.to_str().unwrap(), "--results", "results"];
        args.extend(extra);
        self.command(&args)
    }

    pub fn run(&self, file: &Path, extra: &[&str]) -> Output {
        self.run_command(file, extra).output().unwrap()
    }

    /// Runs `experiment` (named `e2e`) for one epoch on the real data in `KILN_DATASETS`,
    /// asserting that it succeeds.
    pub fn one_real_epoch(&self, experiment: &str) {
        let root =
            std::env::var("KILN_DATASETS").expect("KILN_DATASETS names the real datasets folder");
        let file = self.write("e2e.toml", experiment);
        let out = self
            .run_command(&file, &["--quiet", "--set", "train.epochs=1"])
            .env("KILN_DATASETS", &root)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }

    /// Every run folder made under results/<experiment>/.
    pub fn runs(&self, experiment: &str) -> Vec<PathBuf> {
        let dir = self.path().join("results").join(experiment);
        let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        };
        out.sort();
        out
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The DOM of the HTML page at `page` after its scripts ran in headless chromium
/// (`KILN_CHROMIUM`, else `chromium`), which must finish without a console message.
pub fn page_in_chromium(page: &Path) -> String {
    let browser = std::env::var("KILN_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let run = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("cannot start {browser}: {e}"));
    assert!(run.status.success(), "{}", stderr(&run));
    let (dom, log) = (
        String::from_utf8_lossy(&run.stdout).into_owned(),
        stderr(&run),
    );
    assert!(
        dom.contains("data-ready=\"true\""),
        "the page's script did not finish:\n{log}"
    );
    assert!(
        !log.contains("Uncaught") && !log.contains("CONSOLE"),
        "{log}"
    );
    dom
}

/// A seeded stream of numbers in [0, 1), so the fixtures are the same on every machine.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}
