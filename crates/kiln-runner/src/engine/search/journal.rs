//! A search's state: `journal.jsonl` in its folder, one JSON record a line, only ever
//! appended, under an exclusive `flock` and with `fsync`, so that workers on one machine or
//! on the nodes of a shared filesystem read the same history and none is lost when a worker
//! is killed. There is no server: every decision is a function of the journal.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::platform::lock::FileLock;

/// Values of the searched keys, in the space's order; a key whose condition does not hold
/// is absent.
pub type Values = Vec<(String, toml::Value)>;

/// Who runs a job: a worker process on a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Worker {
    pub host: String,
    pub pid: u32,
    /// When the process started, so that a reused process id is not taken for it.
    pub started: Option<DateTime<Utc>>,
}

impl Worker {
    pub fn this() -> Self {
        let pid = std::process::id();
        Self {
            host: crate::store::manifest::host().hostname,
            pid,
            started: crate::platform::interrupt::started_at(pid),
        }
    }

    /// Whether the worker may still be running its job. On this host, its process says; a
    /// worker on another host is alive while its heartbeat file in the search's `folder`
    /// was touched within [`HEARTBEAT_STALE`] (only its own host can see its process).
    pub fn alive(&self, folder: &Path) -> bool {
        if self.host != crate::store::manifest::host().hostname {
            let beat = crate::store::run_dir::SweepDir {
                root: folder.to_path_buf(),
            }
            .heartbeat(&self.host, self.pid);
            return std::fs::metadata(beat)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age < HEARTBEAT_STALE));
        }
        crate::platform::interrupt::alive(self.pid)
            && match (
                self.started,
                crate::platform::interrupt::started_at(self.pid),
            ) {
                (Some(a), Some(b)) => (a - b).num_seconds().abs() <= 2,
                _ => true,
            }
    }
}

/// How often a worker touches its heartbeat file.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(15);
/// A heartbeat older than this means its worker is gone (a node that died, a job killed).
pub const HEARTBEAT_STALE: std::time::Duration = std::time::Duration::from_secs(90);

/// This process's heartbeat in the search's `folder`, touched every [`HEARTBEAT_EVERY`] by a
/// thread until dropped (the file is removed then), so that workers on other hosts can tell
/// whether this one still runs the jobs it took.
pub struct Heartbeat {
    path: PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    pub fn start(folder: &Path) -> anyhow::Result<Self> {
        let me = Worker::this();
        let path = crate::store::run_dir::SweepDir {
            root: folder.to_path_buf(),
        }
        .heartbeat(&me.host, me.pid);
        let touch = |path: &Path| std::fs::write(path, Utc::now().to_rfc3339());
        touch(&path).with_context(|| format!("writing {}", path.display()))?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut last = std::time::Instant::now();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    if last.elapsed() >= HEARTBEAT_EVERY {
                        let _ = touch(&path);
                        last = std::time::Instant::now();
                    }
                }
            })
        };
        Ok(Self {
            path,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Where a population member's new trial starts: trial `trial`'s checkpoint after `epoch`,
/// taken up in place of trial `replaces` (all 0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fork {
    pub trial: usize,
    pub epoch: usize,
    pub replaces: usize,
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ended {
    /// Stopped at its rung with a checkpoint; a later job may promote it.
    Paused,
    Completed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Record {
    /// The first line: which search this folder holds.
    Search { digest: String, at: DateTime<Utc> },
    /// Job `job` trains `trial` (0-based) up to epoch `until`; a new trial's values and
    /// bracket come with its first job. `why` is for people.
    Job {
        job: usize,
        trial: usize,
        until: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        values: Option<Values>,
        #[serde(default)]
        bracket: usize,
        /// A population member that starts from another trial's weights.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<Fork>,
        why: String,
        at: DateTime<Utc>,
    },
    /// A worker took the job (again, when the one before it died).
    Start {
        job: usize,
        worker: Worker,
        at: DateTime<Utc>,
    },
    /// The job's outcome: the monitored metric after each epoch the trial has trained.
    End {
        job: usize,
        ended: Ended,
        values: Vec<(usize, f64)>,
        seconds: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        at: DateTime<Utc>,
    },
}

/// The journal's file and its lock.
pub struct Journal {
    pub path: PathBuf,
    lock: PathBuf,
}

/// The journal read back: the records in order. A last line cut short by a killed writer
/// is left out (and cut off by the next append).
pub fn parse(text: &str, path: &Path) -> anyhow::Result<Vec<Record>> {
    let mut records = Vec::new();
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    for (i, line) in complete.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        records.push(
            serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not a journal record", path.display(), i + 1))?,
        );
    }
    Ok(records)
}

impl Journal {
    pub fn at(folder: &Path) -> Self {
        let dir = crate::store::run_dir::SweepDir {
            root: folder.to_path_buf(),
        };
        Self {
            path: dir.journal(),
            lock: dir.journal_lock(),
        }
    }

    /// The records so far, read without the lock (a reader never sees a torn line as a
    /// record).
    pub fn read(&self) -> anyhow::Result<Vec<Record>> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => parse(&text, &self.path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.path.display())),
        }
    }

    /// Runs `f` on the records with the lock held; what it returns to append is written
    /// and synced before the lock is let go.
    pub fn update<T>(
        &self,
        f: impl FnOnce(&[Record]) -> anyhow::Result<(Vec<Record>, T)>,
    ) -> anyhow::Result<T> {
        let _lock = FileLock::take(&self.lock)?;
        let mut file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .with_context(|| format!("reading {}", self.path.display()))?;
        let records = parse(&text, &self.path)?;
        let (new, out) = f(&records)?;
        if !new.is_empty() {
            // A writer killed mid-line left a tail without its newline: cut it off first.
            let keep = text.rfind('\n').map_or(0, |i| i + 1);
            if keep < text.len() {
                file.set_len(keep as u64)?;
            }
            file.seek(SeekFrom::Start(keep as u64))?;
            let mut bytes = Vec::new();
            for r in &new {
                serde_json::to_writer(&mut bytes, r)?;
                bytes.push(b'\n');
            }
            file.write_all(&bytes)
                .and_then(|()| file.sync_data())
                .with_context(|| format!("appending to {}", self.path.display()))?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_on_another_host_is_alive_while_its_heartbeat_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let other = Worker {
            host: "another-node".into(),
            pid: 4242,
            started: None,
        };
        assert!(!other.alive(dir.path()), "no heartbeat: gone");
        let beat = crate::store::run_dir::SweepDir {
            root: dir.path().to_path_buf(),
        }
        .heartbeat("another-node", 4242);
        std::fs::write(&beat, "now").unwrap();
        assert!(other.alive(dir.path()));
        let old =
            std::time::SystemTime::now() - HEARTBEAT_STALE - std::time::Duration::from_secs(5);
        File::options()
            .write(true)
            .open(&beat)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(!other.alive(dir.path()), "a stale heartbeat: gone");
        // This process: its own heartbeat while it runs, removed when it stops.
        let me = Worker::this();
        assert!(me.alive(dir.path()));
        let mine = crate::store::run_dir::SweepDir {
            root: dir.path().to_path_buf(),
        }
        .heartbeat(&me.host, me.pid);
        let heart = Heartbeat::start(dir.path()).unwrap();
        assert!(mine.is_file());
        drop(heart);
        assert!(!mine.exists());
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_cut_off_by_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(dir.path());
        let first = Record::Search {
            digest: "abc".into(),
            at: Utc::now(),
        };
        j.update(|r| {
            assert!(r.is_empty());
            Ok((vec![first.clone()], ()))
        })
        .unwrap();
        let mut f = File::options().append(true).open(&j.path).unwrap();
        f.write_all(b"{\"event\":\"start\",\"jo").unwrap();
        assert_eq!(j.read().unwrap(), std::slice::from_ref(&first));
        let second = Record::End {
            job: 0,
            ended: Ended::Paused,
            values: vec![(1, 0.5)],
            seconds: 1.0,
            error: None,
            at: Utc::now(),
        };
        j.update(|r| Ok((vec![second.clone()], r.len()))).unwrap();
        assert_eq!(j.read().unwrap(), [first, second]);
        std::fs::write(&j.path, "{\"event\":\"bogus\"}\n").unwrap();
        let e = j.read().unwrap_err().to_string();
        assert!(e.contains("journal.jsonl:1"), "{e}");
    }
}
