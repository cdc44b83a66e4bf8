//! The memory a loader may fill, so that data too large for it are refused before they are
//! read rather than ended by the kernel halfway. The data crate is told the bound; where it
//! comes from (the machine, a memory cgroup) is the caller's business.

/// How many bytes the loaded data may take, and what sets that bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    pub bytes: u64,
    /// `this machine`, or the memory cgroup file whose limit binds.
    pub limited_by: String,
}

impl Budget {
    /// `None` when `need` bytes fit; otherwise "but X leaves N MiB", to end a message.
    pub fn shortfall(&self, need: u128) -> Option<String> {
        (need > self.bytes as u128).then(|| {
            format!(
                "but {} leaves {}",
                self.limited_by,
                bytes(self.bytes as u128)
            )
        })
    }
}

/// A size as people read it: MiB below a GiB, GiB with one decimal above.
pub fn bytes(b: u128) -> String {
    if b >= 1 << 30 {
        format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
    } else {
        format!("{} MiB", b.div_ceil(1 << 20))
    }
}
