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

/// The tightest limit on the cgroup at `group` (a path under `root`) and its ancestors,
/// minus what the group uses now. `proc_cgroup` is `/proc/self/cgroup`'s text.
fn cgroup_headroom(root: &Path, proc_cgroup: &str) -> Option<Available> {
    // v2: "0::/path"; v1: "N:memory:/path" (or with other controllers beside memory).
    let (dir, limit_file, usage_file) = proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim_start_matches('/');
        if controllers.is_empty() && root.join("cgroup.controllers").exists() {
            Some((root.join(path), "memory.max", "memory.current"))
        } else if controllers.split(',').any(|c| c == "memory") {
            Some((
                root.join("memory").join(path),
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
            ))
        } else {
            None
        }
    })?;
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
}
