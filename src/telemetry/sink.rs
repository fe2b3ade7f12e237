//! Where `serve` and the other commands write their log lines: stderr, in batches, by a thread
//! of its own. A line is appended to a shared buffer under a short lock and the request goes
//! on; the writer thread wakes every [`BATCH_EVERY`] while lines come and writes whatever has
//! gathered in one `write`. Nobody wakes it per line: with a channel and a thread woken for
//! each line (`tracing-appender`, before), every access and transition line cost a futex wake,
//! a `write` and the waking thread's spin-then-yield on its way back to sleep (about ten
//! `sched_yield` calls a purchase step) on two cores shared with Postgres and upstream. When
//! no line has come for [`IDLE_TICKS`] ticks the writer sleeps until the next line wakes it.
//!
//! Never lossy: past [`HIGH_WATER`] bytes waiting, whoever logs waits for the writer rather
//! than drop a line. Keep the [`SinkGuard`] until the end of `main`: dropping it writes out
//! what waits. A `kill -9` loses the lines of the last [`BATCH_EVERY`] at most; a panic's line
//! also goes straight to stderr (the panic hook).

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long a line may wait in memory before the writer thread writes it out.
pub const BATCH_EVERY: Duration = Duration::from_millis(10);
/// Bytes waiting past which loggers wait for the writer (a burst, or a stalled stderr).
const HIGH_WATER: usize = 1 << 20;
/// Ticks without a line before the writer sleeps until woken.
const IDLE_TICKS: u32 = 10;

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    /// The writer sleeps without a tick: the next line must wake it.
    asleep: bool,
    closing: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// The writer waits here for its tick, or (asleep) for a line or the close.
    writer: Condvar,
    /// Loggers past the high water wait here for the writer to take the batch.
    room: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a buffer that is still bytes: keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn append(&self, line: &[u8]) {
        let mut state = self.lock();
        while state.pending.len() >= HIGH_WATER && !state.closing {
            state = self
                .room
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        state.pending.extend_from_slice(line);
        if state.asleep {
            state.asleep = false;
            self.writer.notify_one();
        }
    }

    /// The next batch to write, or `None` once closing with nothing left.
    fn next_batch(&self, spare: Vec<u8>) -> Option<Vec<u8>> {
        let mut state = self.lock();
        let mut idle = 0;
        loop {
            if !state.pending.is_empty() {
                let batch = std::mem::replace(&mut state.pending, spare);
                self.room.notify_all();
                return Some(batch);
            }
            if state.closing {
                return None;
            }
            if idle >= IDLE_TICKS {
                state.asleep = true;
                while state.asleep && !state.closing {
                    state = self
                        .writer
                        .wait(state)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
                state.asleep = false;
                idle = 0;
            } else {
                state = self
                    .writer
                    .wait_timeout(state, BATCH_EVERY)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0;
                idle += 1;
            }
        }
    }
}

/// Hands log lines to the writer thread (a [`MakeWriter`] for the fmt layer).
#[derive(Clone)]
pub struct BatchedSink {
    shared: Arc<Shared>,
}

/// One event's writer: the formatter writes each event whole, in one call.
pub struct Appender<'a>(&'a Shared);

impl Write for Appender<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedSink {
    type Writer = Appender<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Appender(&self.shared)
    }
}

/// Writes out what waits and stops the writer thread when dropped.
#[must_use = "dropping the guard writes out the lines still waiting and stops the writer"]
pub struct SinkGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for SinkGuard {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.closing = true;
            self.shared.writer.notify_one();
            self.shared.room.notify_all();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Log lines to stderr through a writer thread named `log-writer`.
pub fn stderr_sink() -> std::io::Result<(BatchedSink, SinkGuard)> {
    batched(std::io::stderr())
}

/// Log lines to `out` through a writer thread named `log-writer`.
pub fn batched<W: Write + Send + 'static>(mut out: W) -> std::io::Result<(BatchedSink, SinkGuard)> {
    let shared = Arc::new(Shared::default());
    let writer = shared.clone();
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || {
            let mut spare = Vec::new();
            while let Some(mut batch) = writer.next_batch(spare) {
                // A log sink that fails has nowhere to report it; the lines are gone.
                let _ = out.write_all(&batch).and_then(|()| out.flush());
                batch.clear();
                spare = batch;
            }
        })?;
    Ok((
        BatchedSink {
            shared: shared.clone(),
        },
        SinkGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Instant;

    use super::*;

    /// A writer the test can read back, optionally held shut until the test opens it.
    #[derive(Clone, Default)]
    struct Captured {
        bytes: Arc<Mutex<Vec<u8>>>,
        gate: Option<Arc<Mutex<Option<mpsc::Receiver<()>>>>>,
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.bytes.lock().unwrap().clone()).unwrap()
        }

        fn wait_for(&self, what: &str) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !self.text().contains(what) {
                assert!(Instant::now() < deadline, "{what:?} never written");
                std::thread::yield_now();
            }
        }
    }

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Some(gate) = &self.gate
                && let Some(opened) = gate.lock().unwrap().take()
            {
                let _ = opened.recv();
            }
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn log(sink: &BatchedSink, line: &str) {
        sink.make_writer().write_all(line.as_bytes()).unwrap();
    }

    #[test]
    fn every_line_is_written_whole_and_in_order_by_the_time_the_guard_drops() {
        let out = Captured::default();
        let (sink, guard) = batched(out.clone()).unwrap();
        let loggers: Vec<_> = (0..4)
            .map(|t| {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    for i in 0..2_500 {
                        log(&sink, &format!("t{t} {i}\n"));
                    }
                })
            })
            .collect();
        for logger in loggers {
            logger.join().unwrap();
        }
        drop(guard);
        let text = out.text();
        assert_eq!(text.lines().count(), 10_000);
        for t in 0..4 {
            let seen: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("t{t} ")))
                .map(|i| i.parse().unwrap())
                .collect();
            assert_eq!(seen, (0..2_500).collect::<Vec<_>>(), "thread {t}'s lines");
        }
    }

    #[test]
    fn a_lone_line_is_written_without_another_and_one_after_the_writer_slept() {
        let out = Captured::default();
        let (sink, _guard) = batched(out.clone()).unwrap();
        log(&sink, "first\n");
        out.wait_for("first\n");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sink.shared.lock().asleep {
            assert!(Instant::now() < deadline, "the idle writer never slept");
            std::thread::yield_now();
        }
        log(&sink, "second\n");
        out.wait_for("second\n");
    }

    #[test]
    fn a_stalled_writer_makes_loggers_wait_past_the_high_water_and_loses_nothing() {
        let (open, opened) = mpsc::channel();
        let out = Captured {
            gate: Some(Arc::new(Mutex::new(Some(opened)))),
            ..Captured::default()
        };
        let (sink, guard) = batched(out.clone()).unwrap();
        let line = format!("{}\n", "x".repeat(1023));
        let lines = 3 * HIGH_WATER / line.len();
        let logger = {
            let (sink, line) = (sink.clone(), line.clone());
            std::thread::spawn(move || {
                for _ in 0..lines {
                    log(&sink, &line);
                }
            })
        };
        // The writer holds its first batch at the gate; the logger fills up to the high water.
        let deadline = Instant::now() + Duration::from_secs(10);
        while sink.shared.lock().pending.len() < HIGH_WATER {
            assert!(
                Instant::now() < deadline,
                "the logger never reached the high water"
            );
            std::thread::yield_now();
        }
        assert!(sink.shared.lock().pending.len() < HIGH_WATER + line.len());
        open.send(()).unwrap();
        logger.join().unwrap();
        drop(guard);
        assert_eq!(out.text().lines().count(), lines);
    }
}
