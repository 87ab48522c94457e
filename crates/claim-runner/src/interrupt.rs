//! SIGINT and SIGTERM: the runner stops starting claims, raises the cancellation flag that running
//! measurements poll, removes temporary files, and exits with 128 + the signal number.
//!
//! The handler only stores the signal number (through `signal-hook`, so no unsafe code here); a
//! watcher thread turns it into the shared [`Cancel`] flag. In-process callers (the tests) use
//! [`Interrupt::none`], whose flag only they can raise.

use sgd_sim::cancel::Cancel;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// SIGINT.
pub const SIGINT: usize = 2;
/// SIGTERM.
pub const SIGTERM: usize = 15;

/// The stop flag of one command and the signal that raised it.
#[derive(Clone, Debug, Default)]
pub struct Interrupt {
    /// Raised on a signal; the measurements of running claims poll it.
    pub cancel: Cancel,
    signal: Arc<AtomicUsize>,
}

impl Interrupt {
    /// A flag no signal raises (for in-process runs).
    pub fn none() -> Self {
        Self::default()
    }

    /// Installs handlers for SIGINT and SIGTERM that raise this flag. A second signal after the
    /// first ends the process at once with the usual status, for a user who does not want to wait
    /// for running claims to stop.
    ///
    /// # Errors
    /// When a handler cannot be installed.
    pub fn install() -> std::io::Result<Self> {
        let me = Self::default();
        // One flag for both signals: any signal after the first terminates, whichever they are.
        let raised = Arc::new(std::sync::atomic::AtomicBool::new(false));
        for sig in [SIGINT, SIGTERM] {
            let number = i32::try_from(sig).unwrap_or(2);
            // The conditional default fires only once the flag is set, by an earlier signal.
            signal_hook::flag::register_conditional_default(number, Arc::clone(&raised))?;
            signal_hook::flag::register(number, Arc::clone(&raised))?;
            signal_hook::flag::register_usize(number, Arc::clone(&me.signal), sig)?;
        }
        let watcher = me.clone();
        std::thread::Builder::new()
            .name("interrupt-watcher".into())
            .spawn(move || {
                while watcher.signal.load(Ordering::SeqCst) == 0 {
                    std::thread::sleep(Duration::from_millis(20));
                }
                watcher.cancel.cancel();
            })?;
        Ok(me)
    }

    /// Raises the flag as if `signal` had arrived (tests, and the watcher).
    pub fn raise(&self, signal: usize) {
        self.signal.store(signal, Ordering::SeqCst);
        self.cancel.cancel();
    }

    /// The signal that arrived, if any.
    pub fn signal(&self) -> Option<usize> {
        match self.signal.load(Ordering::SeqCst) {
            0 => self.cancel.is_cancelled().then_some(SIGINT),
            s => Some(s),
        }
    }

    /// Whether the run should stop.
    pub fn is_raised(&self) -> bool {
        self.cancel.is_cancelled() || self.signal.load(Ordering::SeqCst) != 0
    }
}

/// The signal's name for messages.
pub fn signal_name(signal: usize) -> &'static str {
    match signal {
        SIGTERM => "SIGTERM",
        SIGINT => "SIGINT",
        _ => "a signal",
    }
}

/// The exit code after `signal`: 128 + its number (130 for SIGINT, 143 for SIGTERM).
pub fn exit_code(signal: usize) -> u8 {
    u8::try_from(128 + signal).unwrap_or(130)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_sets_the_cancel_flag_and_the_code() {
        let i = Interrupt::none();
        assert!(!i.is_raised() && i.signal().is_none());
        i.raise(SIGTERM);
        assert!(i.cancel.is_cancelled());
        assert_eq!(i.signal(), Some(SIGTERM));
        assert_eq!(exit_code(SIGTERM), 143);
        assert_eq!(exit_code(SIGINT), 130);
        assert_eq!(signal_name(SIGINT), "SIGINT");
    }
}
