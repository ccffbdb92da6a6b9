//! The in-memory delivery schedule: messages ready now, and messages waiting for a retry.
//! The spool is the truth; this is rebuilt from it at every start.

use super::spool::Stored;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::time::Instant;

/// Handle for sessions and delivery workers to hand messages to the schedule.
#[derive(Clone)]
pub struct Queue {
    ready: mpsc::UnboundedSender<Stored>,
    delayed: mpsc::UnboundedSender<(Instant, Stored)>,
    control: mpsc::UnboundedSender<Control>,
    /// Messages in the schedule (ready, in delivery, or waiting), for metrics and shutdown.
    depth: Arc<AtomicUsize>,
}

/// The receiving side shared by the delivery workers.
pub type Ready = Arc<Mutex<mpsc::UnboundedReceiver<Stored>>>;

impl Queue {
    /// Creates the schedule and starts its timer task.
    pub fn start() -> (Queue, Ready) {
        let (ready, ready_rx) = mpsc::unbounded_channel();
        let (delayed, delayed_rx) = mpsc::unbounded_channel();
        let (control, control_rx) = mpsc::unbounded_channel();
        tokio::spawn(timer(delayed_rx, control_rx, ready.clone()));
        let q = Queue {
            ready,
            delayed,
            control,
            depth: Arc::new(AtomicUsize::new(0)),
        };
        (q, Arc::new(Mutex::new(ready_rx)))
    }

    /// A message to deliver now.
    pub fn submit(&self, message: Stored) {
        self.depth.fetch_add(1, Ordering::Relaxed);
        let _ = self.ready.send(message);
    }

    /// A message to try again after `delay`. Its depth was counted when first submitted.
    pub fn defer(&self, message: Stored, delay: Duration) {
        let _ = self.delayed.send((Instant::now() + delay, message));
    }

    /// A message has left the schedule (delivered, bounced or expired).
    pub fn finished(&self) {
        self.depth.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// Moves messages waiting for a retry (one by id, or all) to ready now; how many moved.
    pub async fn retry_now(&self, id: Option<String>) -> usize {
        let (tx, rx) = oneshot::channel();
        let _ = self.control.send(Control::RetryNow(id, tx));
        rx.await.unwrap_or(0)
    }

    /// Takes a message waiting for a retry out of the schedule (the caller removes it from
    /// the spool). `None` when it is not waiting: unknown, or being delivered right now.
    pub async fn remove(&self, id: String) -> Option<Stored> {
        let (tx, rx) = oneshot::channel();
        let _ = self.control.send(Control::Remove(id, tx));
        let removed = rx.await.ok().flatten();
        if removed.is_some() {
            self.finished();
        }
        removed
    }
}

enum Control {
    RetryNow(Option<String>, oneshot::Sender<usize>),
    Remove(String, oneshot::Sender<Option<Stored>>),
}

/// Waits out retry delays, oldest due first, and moves messages back to ready.
async fn timer(
    mut delayed: mpsc::UnboundedReceiver<(Instant, Stored)>,
    mut control: mpsc::UnboundedReceiver<Control>,
    ready: mpsc::UnboundedSender<Stored>,
) {
    let mut heap: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut waiting: HashMap<u64, Stored> = HashMap::new();
    let mut seq = 0u64;
    loop {
        let next_due = heap.peek().map(|Reverse((t, _))| *t);
        tokio::select! {
            msg = delayed.recv() => match msg {
                Some((due, stored)) => {
                    seq += 1;
                    heap.push(Reverse((due, seq)));
                    waiting.insert(seq, stored);
                }
                None => return,
            },
            Some(c) = control.recv() => match c {
                Control::RetryNow(id, answer) => {
                    let due: Vec<u64> = waiting
                        .iter()
                        .filter(|(_, m)| id.as_ref().is_none_or(|i| m.envelope.id.0.eq_ignore_ascii_case(i)))
                        .map(|(n, _)| *n)
                        .collect();
                    for n in &due {
                        if let Some(stored) = waiting.remove(n) {
                            let _ = ready.send(stored);
                        }
                    }
                    // Their heap entries find nothing in `waiting` and are skipped.
                    let _ = answer.send(due.len());
                }
                Control::Remove(id, answer) => {
                    let n = waiting
                        .iter()
                        .find(|(_, m)| m.envelope.id.0.eq_ignore_ascii_case(&id))
                        .map(|(n, _)| *n);
                    let _ = answer.send(n.and_then(|n| waiting.remove(&n)));
                }
            },
            _ = async { tokio::time::sleep_until(next_due.expect("guarded")).await }, if next_due.is_some() => {
                let now = Instant::now();
                while let Some(Reverse((due, n))) = heap.peek().copied() {
                    if due > now {
                        break;
                    }
                    heap.pop();
                    if let Some(stored) = waiting.remove(&n) {
                        let _ = ready.send(stored);
                    }
                }
            }
        }
    }
}

/// The wait before attempt `attempts + 1`: the schedule's entry (its last one repeating),
/// with ±10% jitter so deferred messages do not retry in lockstep.
pub fn retry_delay(schedule: &[Duration], attempts: u32) -> Duration {
    let i = (attempts.max(1) as usize - 1).min(schedule.len().saturating_sub(1));
    let base = schedule.get(i).copied().unwrap_or(Duration::from_secs(300));
    let jitter: f64 = rand::random::<f64>() * 0.2 - 0.1;
    base.mul_f64(1.0 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_schedule_repeats_its_last_step() {
        let s = [Duration::from_secs(10), Duration::from_secs(100)];
        let d1 = retry_delay(&s, 1).as_secs_f64();
        let d5 = retry_delay(&s, 5).as_secs_f64();
        assert!((9.0..=11.0).contains(&d1), "{d1}");
        assert!((90.0..=110.0).contains(&d5), "{d5}");
    }
}
