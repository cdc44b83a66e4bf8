//! How much memory a run may use, for refusing models that would not fit before they are
//! allocated (see `tasks::fits_in_memory`). In a container or a Slurm job the limit is the
//! memory cgroup's, not the machine's: the kernel kills a process that passes it, with no
//! word to the user, so both are read and the smaller wins.

use std::path::{Path, PathBuf};

/// Bytes a run may still allocate, and what sets that bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Available {
    pub bytes: u64,
    /// `this machine`, or the cgroup file whose limit binds.
    pub limited_by: String,
}

/// The smaller of what the kernel says can be allocated without swapping (`MemAvailable`)
/// and what the process's memory cgroup (v2 or v1) leaves under its limit; `None` where
/// neither is known.
pub fn available() -> Option<Available> {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| mem_available(&m))
        .map(|bytes| Available {
            bytes,
            limited_by: "this machine".into(),
        });
    let cgroup = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|c| cgroup_headroom(Path::new("/sys/fs/cgroup"), &c));
    match (machine, cgroup) {
        (Some(m), Some(c)) => Some(if c.bytes < m.bytes { c } else { m }),
        (m, c) => m.or(c),
    }
}

fn mem_available(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// A number of bytes in a cgroup file; `max` (v2) or a huge v1 value means no limit.
fn bytes_in(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let value = text.trim().parse::<u64>().ok()?;
    // v1 writes "no limit" as the largest page-aligned i64.
    (value < 1 << 62).then_some(value)
}

/// The folder of the process's memory cgroup under `root`, and whether it is cgroup v2.
/// `proc_cgroup` is `/proc/self/cgroup`'s text.
fn cgroup_dir(root: &Path, proc_cgroup: &str) -> Option<(PathBuf, bool)> {
    // v2: "0::/path"; v1: "N:memory:/path" (or with other controllers beside memory).
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim_start_matches('/');
        if controllers.is_empty() && root.join("cgroup.controllers").exists() {
            Some((root.join(path), true))
        } else if controllers.split(',').any(|c| c == "memory") {
            Some((root.join("memory").join(path), false))
        } else {
            None
        }
    })
}

/// The tightest limit on the cgroup at `group` (a path under `root`) and its ancestors,
/// minus what the group uses now. `proc_cgroup` is `/proc/self/cgroup`'s text.
fn cgroup_headroom(root: &Path, proc_cgroup: &str) -> Option<Available> {
    let (dir, v2) = cgroup_dir(root, proc_cgroup)?;
    let (limit_file, usage_file) = if v2 {
        ("memory.max", "memory.current")
    } else {
        ("memory.limit_in_bytes", "memory.usage_in_bytes")
    };
    let mut tightest: Option<(u64, PathBuf)> = None;
    let mut at = dir.as_path();
    loop {
        let file = at.join(limit_file);
        if let Some(limit) = bytes_in(&file)
            && tightest.as_ref().is_none_or(|(t, _)| limit < *t)
        {
            tightest = Some((limit, file));
        }
        match at.parent() {
            Some(parent) if at != root && parent.starts_with(root) => at = parent,
            _ => break,
        }
    }
    let (limit, file) = tightest?;
    let used = bytes_in(&dir.join(usage_file)).unwrap_or(0);
    Some(Available {
        bytes: limit.saturating_sub(used),
        limited_by: format!("its memory cgroup ({})", file.display()),
    })
}

/// An out-of-memory kill counter and its value when a run started: the process's memory
/// cgroup's (`memory.events` in v2, `memory.oom_control` in v1) and the machine's
/// (`/proc/vmstat`). If one has risen when the run is later found dead, the kernel's
/// out-of-memory killer ended a process there meanwhile, most likely the run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OomCounter {
    pub file: PathBuf,
    pub kills: u64,
}

/// This process's out-of-memory kill counters now.
pub fn oom_counters() -> Vec<OomCounter> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|c| cgroup_dir(Path::new("/sys/fs/cgroup"), &c))
        .map(|(dir, v2)| {
            dir.join(if v2 {
                "memory.events"
            } else {
                "memory.oom_control"
            })
        });
    cgroup
        .into_iter()
        .chain([PathBuf::from("/proc/vmstat")])
        .filter_map(|file| {
            let kills = oom_kills(&file)?;
            Some(OomCounter { file, kills })
        })
        .collect()
}

/// The `oom_kill` count in a `memory.events`, `memory.oom_control` or `/proc/vmstat` file.
pub fn oom_kills(file: &Path) -> Option<u64> {
    std::fs::read_to_string(file)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

/// Which of `counters` rose since they were read, with how many kills.
pub fn oom_kills_since(counters: &[OomCounter]) -> Option<(PathBuf, u64)> {
    counters.iter().find_map(|c| {
        let now = oom_kills(&c.file)?;
        (now > c.kills).then(|| (c.file.clone(), now - c.kills))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn linux_says_how_much_is_available() {
        let a = available().expect("/proc/meminfo has MemAvailable");
        assert!(a.bytes > 1 << 20, "{a:?}");
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_v2_cgroup_binds_at_its_tightest_ancestor_less_what_it_uses() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("cgroup.controllers"), "cpu memory\n");
        write(&root.join("job/memory.max"), "3221225472\n");
        write(&root.join("job/step/memory.max"), "max\n");
        write(&root.join("job/step/memory.current"), "1073741824\n");
        let a = cgroup_headroom(root, "0::/job/step\n").unwrap();
        assert_eq!(a.bytes, 2 << 30);
        assert!(a.limited_by.ends_with("job/memory.max)"), "{a:?}");
        // No limit anywhere: the machine's figure stands.
        write(&root.join("job/memory.max"), "max\n");
        assert_eq!(cgroup_headroom(root, "0::/job/step\n"), None);
    }

    #[test]
    fn a_v1_memory_cgroup_is_read_from_its_controller() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            &root.join("memory/slurm/job_7/memory.limit_in_bytes"),
            "2147483648\n",
        );
        write(
            &root.join("memory/slurm/job_7/memory.usage_in_bytes"),
            "536870912\n",
        );
        write(
            &root.join("memory/memory.limit_in_bytes"),
            "9223372036854771712\n",
        );
        let text = "12:cpu,cpuacct:/slurm/job_7\n4:memory:/slurm/job_7\n";
        let a = cgroup_headroom(root, text).unwrap();
        assert_eq!(a.bytes, 3 << 29);
        assert_eq!(
            mem_available("MemTotal: 10 kB\nMemAvailable:  2048 kB\n"),
            Some(2 << 20)
        );
    }

    #[test]
    fn a_risen_oom_kill_count_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("memory.events");
        write(&events, "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n");
        let vmstat = dir.path().join("vmstat");
        write(&vmstat, "nr_free_pages 100\noom_kill 7\n");
        let counters: Vec<OomCounter> = [&events, &vmstat]
            .iter()
            .map(|f| OomCounter {
                file: f.to_path_buf(),
                kills: oom_kills(f).unwrap(),
            })
            .collect();
        assert_eq!(counters[1].kills, 7);
        assert_eq!(oom_kills_since(&counters), None);
        write(&events, "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\n");
        assert_eq!(oom_kills_since(&counters), Some((events.clone(), 1)));
        let gone = [OomCounter {
            file: dir.path().join("no such cgroup"),
            kills: 0,
        }];
        assert_eq!(oom_kills_since(&gone), None);
    }
}
