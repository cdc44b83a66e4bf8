//! The allocator's one setting kiln makes: freed pages stay mapped. mimalloc (the global
//! allocator of kiln's binary) hands pages left free for a second back to the kernel by
//! default, and training steps that free and allocate large buffers every few milliseconds
//! then fault them in again, each huge page cleared by the kernel first. The price: pages
//! kept but not reused can raise a process's peak a little (the speed page measures both).
#![allow(unsafe_code)]

use std::os::raw::{c_int, c_long};

// The functions below are mimalloc's, linked through this crate.
use mimalloc as _;

unsafe extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
}

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h`; its `allocator_option_is_purge_delay`
/// test checks the number against the option's documented default.
const PURGE_DELAY: c_int = 15;

/// Never purges freed memory, unless `MIMALLOC_PURGE_DELAY` sets the delay (mimalloc reads it).
pub fn keep_freed_pages() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: two integers by value; mimalloc's options are atomics that may be set at
        // any time, from any thread.
        unsafe { mi_option_set(PURGE_DELAY, -1) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" {
        fn mi_option_get(option: c_int) -> c_long;
    }

    /// mimalloc's purge delay in milliseconds; -1: never.
    fn purge_delay() -> c_long {
        // SAFETY: one integer by value; reading an option is an atomic load.
        unsafe { mi_option_get(PURGE_DELAY) }
    }

    #[test]
    fn allocator_option_is_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // mimalloc 3's default purge delay, which no other option near it has.
        assert_eq!(purge_delay(), 1000);
        keep_freed_pages();
        assert_eq!(purge_delay(), -1);
    }
}
