//! The progress bar on stderr: shown only on a terminal, without `--quiet`,
//! once the work has taken more than a second.

/// A progress bar on stderr, shown only when stderr is a terminal, not
/// `--quiet`, and the work has taken more than a second.
pub struct Progress {
    bar: indicatif::ProgressBar,
    shown: std::sync::atomic::AtomicBool,
    finished: std::sync::atomic::AtomicBool,
    allowed: bool,
    started: std::time::Instant,
}

impl Progress {
    pub fn new(total: u64, quiet: bool) -> Self {
        use std::io::IsTerminal;
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::hidden(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{elapsed:>4} [{bar:30}] {pos}/{len} runs, eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress {
            bar,
            shown: std::sync::atomic::AtomicBool::new(false),
            finished: std::sync::atomic::AtomicBool::new(false),
            allowed: !quiet && std::io::stderr().is_terminal(),
            started: std::time::Instant::now(),
        }
    }

    pub fn inc(&self) {
        self.bar.inc(1);
    }

    /// Waits until the work is done or has taken a second; then shows the
    /// bar (when allowed), ticking so a long single run shows its time.
    pub fn watch(&self) {
        use std::sync::atomic::Ordering;
        let second = std::time::Duration::from_secs(1);
        while !self.finished.load(Ordering::Relaxed) {
            if self.started.elapsed() >= second {
                if self.allowed && !self.shown.swap(true, Ordering::Relaxed) {
                    self.bar
                        .set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    self.bar
                        .enable_steady_tick(std::time::Duration::from_millis(250));
                    // The work may have finished meanwhile: clear the bar again.
                    if self.finished.load(Ordering::Relaxed) {
                        self.bar.finish_and_clear();
                    }
                }
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn finish(&self) {
        use std::sync::atomic::Ordering;
        self.finished.store(true, Ordering::Relaxed);
        if self.shown.load(Ordering::Relaxed) {
            self.bar.finish_and_clear();
        }
    }
}
