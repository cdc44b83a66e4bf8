//! Advisory file locks (`flock`): what keeps concurrent kiln processes, on one machine or on
//! the nodes of a shared filesystem, from interleaving a read-modify-write of the index or a
//! sweep's job list.

use std::fs::File;
use std::path::Path;

use anyhow::Context;

/// An exclusive lock on a file, created if need be; held until dropped.
pub struct FileLock(File);

impl FileLock {
    /// Waits for the lock on `path`.
    pub fn take(path: &Path) -> anyhow::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.lock()
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(Self(file))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}
