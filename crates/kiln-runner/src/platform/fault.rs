//! Deliberate crashes at named points, for the tests that kill runs where it hurts most:
//! `KILN_FAULT=checkpoint:2` kills the process (SIGKILL, no clean-up) in the middle of
//! writing its 2nd checkpoint; `step:N` after its Nth step, `evaluation:N` in its Nth
//! evaluation batch; `sigterm:N` sends it SIGTERM after its Nth step, as a scheduler would,
//! `sigterm-evaluation:N` in its Nth evaluation batch, and `sigterm-epoch:N` at the end of
//! its Nth epoch (after validation); `fork:N` as a population member's new trial takes up
//! its parent's checkpoint, before it has one of its own.
//! Unset, each point costs one relaxed load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

struct Fault {
    point: String,
    at: usize,
    seen: AtomicUsize,
}

fn planned() -> Option<&'static Fault> {
    static PLAN: OnceLock<Option<Fault>> = OnceLock::new();
    PLAN.get_or_init(|| {
        let plan = std::env::var("KILN_FAULT").ok()?;
        let (point, at) = plan.split_once(':')?;
        Some(Fault {
            point: point.to_string(),
            at: at.parse().ok()?,
            seen: AtomicUsize::new(0),
        })
    })
    .as_ref()
}

/// Passes point `name`; the planned fault strikes on its planned visit.
pub fn point(name: &str) {
    let Some(fault) = planned() else { return };
    let signal = match (fault.point.as_str(), name) {
        ("sigterm", "step") | ("sigterm-evaluation", "evaluation") | ("sigterm-epoch", "epoch") => {
            Signal::SIGTERM
        }
        (planned, name) if planned == name => Signal::SIGKILL,
        _ => return,
    };
    if fault.seen.fetch_add(1, Ordering::SeqCst) + 1 == fault.at {
        let _ = kill(Pid::this(), signal);
        if signal == Signal::SIGKILL {
            // Not reached; a SIGKILL is not handled.
            std::process::abort();
        }
        // The handler runs on its own thread: wait for it, so the stop comes at this step.
        let clock = std::time::Instant::now();
        while !crate::platform::interrupt::requested() && clock.elapsed().as_secs() < 5 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}
