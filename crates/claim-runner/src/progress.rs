//! Progress on a terminal while claims run: a spinner per running claim and an overall bar, on
//! standard error; hidden when standard error is not a terminal or under CI.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// Progress on a terminal: a spinner per running claim and an overall bar, on standard error.
/// Hidden when standard error is not a terminal or under CI, where the plain lines suffice.
pub struct Progress {
    multi: MultiProgress,
    total: Option<ProgressBar>,
}

impl Progress {
    pub fn new(n: usize) -> Self {
        let visible = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let multi = MultiProgress::with_draw_target(if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let total = visible.then(|| {
            let bar = multi.add(ProgressBar::new(n as u64));
            if let Ok(style) =
                ProgressStyle::with_template("{bar:30} {pos}/{len} claims, {elapsed}")
            {
                bar.set_style(style);
            }
            bar
        });
        Self { multi, total }
    }

    pub fn start(&self, id: &str) -> Option<ProgressBar> {
        self.total.as_ref()?;
        let s = self.multi.insert(0, ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            s.set_style(style);
        }
        s.set_message(id.to_owned());
        s.enable_steady_tick(Duration::from_millis(120));
        Some(s)
    }

    pub fn done(&self, spinner: Option<ProgressBar>) {
        if let Some(s) = spinner {
            s.finish_and_clear();
            self.multi.remove(&s);
        }
        self.finished();
    }

    pub fn finished(&self) {
        if let Some(t) = &self.total {
            t.inc(1);
        }
    }

    pub fn suspend<F: FnOnce()>(&self, f: F) {
        self.multi.suspend(f);
    }

    pub fn clear(&self) {
        if let Some(t) = &self.total {
            t.finish_and_clear();
        }
    }
}
