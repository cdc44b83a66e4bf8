//! How much memory the machine can give a run, for refusing models that would not fit
//! before they are allocated (see `tasks::fits_in_memory`).

/// Bytes the kernel says can be allocated without swapping (`MemAvailable`, Linux), or
/// `None` where that is not known.
pub fn available_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn linux_says_how_much_is_available() {
        let bytes = super::available_bytes().expect("/proc/meminfo has MemAvailable");
        assert!(bytes > 1 << 20, "{bytes}");
    }
}
