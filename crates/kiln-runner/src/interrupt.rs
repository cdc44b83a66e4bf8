//! Ctrl-C (or SIGTERM, SIGHUP): the first one ends training or evaluation at the next batch,
//! so the run is recorded as failed (interrupted) with the metrics so far; a second one exits
//! at once.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if REQUESTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: stopping after this step (Ctrl-C again to quit at once)");
    });
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}
