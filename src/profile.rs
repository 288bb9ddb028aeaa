//! Opt-in timing of a process's phases: `SPLADE_PROFILE=1` makes the
//! binary print, on stderr at exit, how long each phase of its start-up and
//! work took (tokenizer load, weights, index open, encode, score, ...).
//!
//! Why: a search answers in milliseconds, and what a user feels is the
//! whole process. The breakdown says where those milliseconds go without a
//! profiler (README "Cold start" is measured with it and with
//! `benches/cold_start.sh`). When the variable is unset, a mark costs one
//! relaxed atomic load.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

/// 0: not decided yet, 1: off, 2: on.
static STATE: AtomicU8 = AtomicU8::new(0);
/// Marks so far: the phase each ends, and when.
static MARKS: Mutex<Vec<(&'static str, Instant)>> = Mutex::new(Vec::new());

/// Whether `SPLADE_PROFILE` is set (to anything but `0` or empty).
pub fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let on = std::env::var_os("SPLADE_PROFILE").is_some_and(|v| !v.is_empty() && v != "0");
            STATE.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
    }
}

/// Ends the phase called `label`: the time since the previous mark (or the
/// start) is charged to it.
pub fn mark(label: &'static str) {
    if !enabled() {
        return;
    }
    MARKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((label, Instant::now()));
}

/// The phases as one line, `label ms, ...` and the total, or `None` when
/// profiling is off or nothing was marked. Phases marked more than once
/// (one per query, say) are summed under their first position.
pub fn report() -> Option<String> {
    if !enabled() {
        return None;
    }
    let marks = MARKS.lock().unwrap_or_else(|e| e.into_inner());
    let first = marks.first()?.1;
    // Each phase is charged the time since the mark before it (the first
    // mark, `main`'s, only starts the clock).
    let steps = marks.iter().scan(first, |previous, &(label, at)| {
        let ms = at.duration_since(*previous).as_secs_f64() * 1e3;
        *previous = at;
        Some((label, ms))
    });
    summarize(steps)
}

/// The report of `steps`, each a phase's label and the milliseconds
/// charged to it; `None` when there are none.
fn summarize(steps: impl IntoIterator<Item = (&'static str, f64)>) -> Option<String> {
    let mut phases: Vec<(&'static str, f64)> = Vec::new();
    for (label, ms) in steps {
        match phases.iter_mut().find(|(l, _)| *l == label) {
            Some((_, total)) => *total += ms,
            None => phases.push((label, ms)),
        }
    }
    if phases.is_empty() {
        return None;
    }
    let total: f64 = phases.iter().map(|(_, ms)| ms).sum();
    let parts: Vec<String> = phases
        .iter()
        .filter(|(label, _)| *label != "start")
        .map(|(label, ms)| format!("{label} {ms:.2}"))
        .collect();
    Some(format!(
        "profile (ms): {}; total {total:.2}",
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_charged_the_time_since_the_previous_mark() {
        // Milliseconds made up, not measured: nothing is timed.
        let steps = [("start", 0.0), ("load", 5.0), ("query", 1.0), ("load", 3.0)];
        let line = summarize(steps).expect("marks were taken");
        assert_eq!(line, "profile (ms): load 8.00, query 1.00; total 9.00");
        assert_eq!(summarize([]), None);
    }
}
