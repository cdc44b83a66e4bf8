//! Ctrl-C (or SIGTERM, SIGHUP): the first one ends training or evaluation at the next batch,
//! so the run is recorded as failed (interrupted) with the metrics so far; a second one exits
//! at once.
//!
//! A sweep's trials run in their own process groups, so a terminal's Ctrl-C reaches only the
//! sweep; it passes each signal on to the trials it started, which then stop the same way.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

static REQUESTED: AtomicBool = AtomicBool::new(false);
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

pub fn install() {
    let _ = ctrlc::set_handler(|| {
        let again = REQUESTED.swap(true, Ordering::SeqCst);
        for &pid in CHILDREN.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGINT);
        }
        if again {
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: stopping after this step (Ctrl-C again to quit at once)");
    });
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// Signals reaching this process are passed on to `pid` until [`forget_child`].
pub fn adopt_child(pid: u32) {
    CHILDREN.lock().unwrap_or_else(|p| p.into_inner()).push(pid);
}

pub fn forget_child(pid: u32) {
    CHILDREN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|&p| p != pid);
}

/// Whether process `pid` is running on this machine. A zombie is not: a killed trial whose
/// parent died too can stay one for as long as nobody reaps it.
pub fn alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may hold spaces.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        return !matches!(state, Some('Z' | 'X'));
    }
    match kill(Pid::from_raw(pid as i32), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::EPERM) => !std::path::Path::new("/proc/self").exists(),
        Err(_) => false,
    }
}
