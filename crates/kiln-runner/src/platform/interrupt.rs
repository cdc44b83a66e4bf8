//! Ctrl-C, SIGTERM, SIGHUP or SIGUSR1 (what Slurm sends before a time limit): the first one
//! makes training take a checkpoint at the next step and stop, so the run is recorded as
//! `interrupted` and `run --resume` goes on from there; a second Ctrl-C exits at once.
//!
//! A sweep's trials run in their own process groups, so a terminal's Ctrl-C reaches only the
//! sweep; it passes each signal on to the trials it started, which then stop the same way.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static SIGNAL: AtomicI32 = AtomicI32::new(0);
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// The exit status of a run stopped by a signal with its checkpoint written: EX_TEMPFAIL,
/// "try again later", which is what `run --resume` does.
pub const RESUMABLE_EXIT: u8 = 75;

pub fn install() {
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1])
    else {
        return;
    };
    std::thread::spawn(move || {
        for number in signals.forever() {
            let again = REQUESTED.swap(true, Ordering::SeqCst);
            let _ = SIGNAL.compare_exchange(0, number, Ordering::SeqCst, Ordering::SeqCst);
            let signal = Signal::try_from(number).unwrap_or(Signal::SIGINT);
            for &pid in CHILDREN.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                let _ = kill(Pid::from_raw(pid as i32), signal);
            }
            // Twice Ctrl-C is a person in a hurry; a scheduler may send SIGTERM to every
            // process of a job and the job script pass it on too, so only SIGINT quits at once.
            if again && number == SIGINT {
                std::process::exit(128 + number);
            }
            if !again {
                eprintln!(
                    "\n{}: stopping at the next step with a checkpoint{}",
                    signal.as_str(),
                    if number == SIGINT {
                        " (Ctrl-C again to quit at once)"
                    } else {
                        ""
                    }
                );
            }
        }
    });
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// The signal that asked for the stop, e.g. `SIGTERM`.
pub fn signal_name() -> Option<&'static str> {
    Signal::try_from(SIGNAL.load(Ordering::Relaxed))
        .ok()
        .map(Signal::as_str)
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

/// When process `pid` started, from `/proc` (Linux): its start in clock ticks after boot,
/// at the 100 ticks per second Linux reports to user space everywhere kiln runs.
pub fn started_at(pid: u32) -> Option<chrono::DateTime<chrono::Utc>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    // Fields after the command: state is field 3, so start time (field 22) is the 20th.
    let ticks: i64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let boot: i64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    chrono::DateTime::from_timestamp_millis(boot * 1000 + ticks * 10)
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
