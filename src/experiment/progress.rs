//! The progress bar on stderr: shown only on a terminal, without `--quiet`,
//! once the work has taken more than a second. It counts runs done and,
//! inside the runs under way, simulated time out of each run's horizon, so
//! a single long run advances too and the ETA means something.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::report::human;
use crate::time::SimTime;

/// Steps of the bar per run: the run's fraction of its horizon, in 1/1000.
const PER_RUN: u64 = 1000;

/// How often the bar is redrawn.
const REDRAW: Duration = Duration::from_millis(200);

/// No unit in a worker's slot.
const IDLE: usize = usize::MAX;

/// What one worker thread is running: the unit and its simulated time.
struct Slot {
    unit: AtomicUsize,
    now: Arc<AtomicU64>,
}

/// A progress bar on stderr, shown only when stderr is a terminal, not
/// `--quiet`, and the work has taken more than a second.
pub struct Progress {
    bar: indicatif::ProgressBar,
    /// Each unit's horizon \[ns\].
    horizons: Vec<u64>,
    slots: Vec<Slot>,
    done: AtomicU64,
    finished: AtomicBool,
    allowed: bool,
    started: Instant,
}

impl Progress {
    /// A bar for units with these horizons, run on `workers` threads.
    pub fn new(horizons: Vec<SimTime>, workers: usize, quiet: bool) -> Self {
        use std::io::IsTerminal;
        let total = horizons.len() as u64;
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total * PER_RUN),
            indicatif::ProgressDrawTarget::hidden(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{elapsed:>4} [{bar:30}] {percent:>3}% {msg}, eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress {
            bar,
            horizons: horizons.iter().map(|h| h.0).collect(),
            slots: (0..workers.max(1))
                .map(|_| Slot {
                    unit: AtomicUsize::new(IDLE),
                    now: Arc::new(AtomicU64::new(0)),
                })
                .collect(),
            done: AtomicU64::new(0),
            finished: AtomicBool::new(false),
            allowed: !quiet && std::io::stderr().is_terminal(),
            started: Instant::now(),
        }
    }

    /// Unit `unit` starts on this thread: its slot, and where its event
    /// loop leaves the simulated time.
    pub fn start(&self, unit: usize) -> (usize, Arc<AtomicU64>) {
        let slot = rayon::current_thread_index().unwrap_or(0) % self.slots.len();
        let s = &self.slots[slot];
        s.now.store(0, Ordering::Relaxed);
        s.unit.store(unit, Ordering::Relaxed);
        (slot, s.now.clone())
    }

    /// The unit in `slot` has finished.
    pub fn done(&self, slot: usize) {
        self.slots[slot].unit.store(IDLE, Ordering::Relaxed);
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    /// Bar steps done: whole runs, and the runs under way by simulated time.
    fn position(&self) -> (u64, Option<(u64, u64)>) {
        let mut pos = self.done.load(Ordering::Relaxed) * PER_RUN;
        let mut single = None;
        for s in &self.slots {
            let unit = s.unit.load(Ordering::Relaxed);
            let Some(&horizon) = self.horizons.get(unit) else {
                continue;
            };
            let now = s.now.load(Ordering::Relaxed).min(horizon);
            pos += fraction(now, horizon);
            single = Some((now, horizon));
        }
        (pos, single)
    }

    /// The text after the bar: runs done, and with one run the simulated
    /// time out of the horizon.
    fn message(&self, single: Option<(u64, u64)>) -> String {
        let total = self.horizons.len();
        let done = self.done.load(Ordering::Relaxed);
        match single {
            Some((now, horizon)) if total == 1 => format!(
                "simulated {} of {}",
                human::duration_coarse(now as f64 / 1e9),
                human::duration_coarse(horizon as f64 / 1e9)
            ),
            _ => format!("{done}/{total} runs"),
        }
    }

    /// Waits until the work is done or has taken a second; then shows the
    /// bar (when allowed) and redraws it a few times a second until done.
    pub fn watch(&self) {
        let second = Duration::from_secs(1);
        while !self.finished.load(Ordering::Relaxed) {
            if self.started.elapsed() >= second {
                if !self.allowed {
                    return;
                }
                self.bar
                    .set_draw_target(indicatif::ProgressDrawTarget::stderr());
                while !self.finished.load(Ordering::Relaxed) {
                    let (pos, single) = self.position();
                    self.bar.set_message(self.message(single));
                    self.bar.set_position(pos);
                    std::thread::sleep(REDRAW);
                }
                self.bar.finish_and_clear();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn finish(&self) {
        self.finished.store(true, Ordering::Relaxed);
    }
}

/// `now` of `horizon` in bar steps.
fn fraction(now: u64, horizon: u64) -> u64 {
    if horizon == 0 {
        0
    } else {
        (now as u128 * u128::from(PER_RUN) / u128::from(horizon)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_under_way_counts_by_simulated_time() {
        let p = Progress::new(vec![SimTime::from_secs_f64(100.0); 4], 2, true);
        assert_eq!(p.position().0, 0);
        let (slot, now) = p.start(0);
        now.store(SimTime::from_secs_f64(25.0).0, Ordering::Relaxed);
        assert_eq!(p.position().0, 250);
        p.done(slot);
        assert_eq!(p.position().0, 1000);
        let (_, now) = p.start(1);
        now.store(SimTime::from_secs_f64(150.0).0, Ordering::Relaxed);
        // Never past the run's end.
        assert_eq!(p.position().0, 2000);
        assert_eq!(p.message(None), "1/4 runs");
    }

    #[test]
    fn one_run_says_how_far_its_simulated_time_is() {
        let p = Progress::new(vec![SimTime::from_secs_f64(86_400.0)], 1, true);
        let (_, now) = p.start(0);
        now.store(SimTime::from_secs_f64(7_500.0).0, Ordering::Relaxed);
        let (pos, single) = p.position();
        assert_eq!(pos, 86);
        assert_eq!(p.message(single), "simulated 2 h 5 min of 1 d");
    }
}
