//! What the process and the machine offer, below everything else in kiln: the allocator's
//! setting (`allocator`), signals and whether a process lives (`interrupt`), the memory a
//! run may use (`memory`), advisory file locks (`lock`), logs and progress bars
//! (`progress`), and the crashes the resume tests place (`fault`). Invariant: nothing here
//! imports another kiln module.

pub(crate) mod allocator;
pub(crate) mod fault;
pub(crate) mod interrupt;
pub(crate) mod lock;
pub(crate) mod memory;
pub mod progress;
