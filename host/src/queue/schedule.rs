//! The in-memory delivery schedule: messages ready now, messages waiting for a retry, and
//! messages an operator holds (not attempted until released). The spool is the truth; this
//! is rebuilt from it at every start (a held message's envelope says so).

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

    /// A message found in the spool at start: held ones stay held, one whose last attempt
    /// recorded a later next attempt waits for it (a restart is not a reason to retry early),
    /// any other is ready now.
    pub fn recover(&self, message: Stored, now: u64) {
        let progress = &message.envelope.progress;
        if progress.held {
            return self.submit_held(message);
        }
        match progress.next_attempt_at.filter(|&at| at > now) {
            Some(at) => {
                self.depth.fetch_add(1, Ordering::Relaxed);
                self.defer(message, Duration::from_secs(at - now));
            }
            None => self.submit(message),
        }
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

    /// Takes a message waiting for a retry (or held) out of the schedule (the caller removes
    /// it from the spool). `None` when it is neither: unknown, or being delivered right now.
    pub async fn remove(&self, id: String) -> Option<Stored> {
        let removed = self.ask(|tx| Control::Remove(id, tx)).await.flatten();
        if removed.is_some() {
            self.finished();
        }
        removed
    }

    /// Takes a message waiting for a retry out of the timer, to be [`Queue::park`]ed once
    /// its envelope records the hold. `None` when it is not waiting.
    pub async fn hold(&self, id: String) -> Option<Stored> {
        self.ask(|tx| Control::Hold(id, tx)).await.flatten()
    }

    /// Keeps a message out of delivery until [`Queue::unhold`]. Its depth is already counted.
    pub fn park(&self, message: Stored) {
        let _ = self.control.send(Control::Park(Box::new(message)));
    }

    /// A recovered message whose envelope says it is held.
    pub fn submit_held(&self, message: Stored) {
        self.depth.fetch_add(1, Ordering::Relaxed);
        self.park(message);
    }

    /// Takes a held message back out; the caller defers it (or removes it). `None` when
    /// it is not held.
    pub async fn unhold(&self, id: String) -> Option<Stored> {
        self.ask(|tx| Control::Unhold(id, tx)).await.flatten()
    }

    /// Where each waiting or held message stands, by queue id; a message not listed is ready
    /// or being delivered.
    pub async fn snapshot(&self) -> HashMap<String, Scheduled> {
        self.ask(Control::Snapshot).await.unwrap_or_default()
    }

    async fn ask<T>(&self, control: impl FnOnce(oneshot::Sender<T>) -> Control) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        let _ = self.control.send(control(tx));
        rx.await.ok()
    }
}

/// A message the schedule is keeping from delivery for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduled {
    /// Waiting for its next attempt, due in this long.
    Waiting(Duration),
    /// Held by an operator.
    Held,
}

enum Control {
    RetryNow(Option<String>, oneshot::Sender<usize>),
    Remove(String, oneshot::Sender<Option<Stored>>),
    Hold(String, oneshot::Sender<Option<Stored>>),
    Park(Box<Stored>),
    Unhold(String, oneshot::Sender<Option<Stored>>),
    Snapshot(oneshot::Sender<HashMap<String, Scheduled>>),
}

fn find(waiting: &HashMap<u64, Stored>, id: &str) -> Option<u64> {
    waiting
        .iter()
        .find(|(_, m)| m.envelope.id.0.eq_ignore_ascii_case(id))
        .map(|(n, _)| *n)
}

/// Waits out retry delays, oldest due first, and moves messages back to ready.
async fn timer(
    mut delayed: mpsc::UnboundedReceiver<(Instant, Stored)>,
    mut control: mpsc::UnboundedReceiver<Control>,
    ready: mpsc::UnboundedSender<Stored>,
) {
    let mut heap: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut waiting: HashMap<u64, Stored> = HashMap::new();
    let mut due_at: HashMap<u64, Instant> = HashMap::new();
    // Held by an operator, by queue id: never due.
    let mut held: HashMap<String, Stored> = HashMap::new();
    let mut seq = 0u64;
    loop {
        let next_due = heap.peek().map(|Reverse((t, _))| *t);
        tokio::select! {
            msg = delayed.recv() => match msg {
                Some((due, stored)) => {
                    seq += 1;
                    heap.push(Reverse((due, seq)));
                    waiting.insert(seq, stored);
                    due_at.insert(seq, due);
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
                    let removed = find(&waiting, &id)
                        .and_then(|n| waiting.remove(&n))
                        .or_else(|| held.remove(&id.to_ascii_uppercase()));
                    let _ = answer.send(removed);
                }
                Control::Hold(id, answer) => {
                    let _ = answer.send(find(&waiting, &id).and_then(|n| waiting.remove(&n)));
                }
                Control::Park(stored) => {
                    held.insert(stored.envelope.id.0.clone(), *stored);
                }
                Control::Unhold(id, answer) => {
                    let _ = answer.send(held.remove(&id.to_ascii_uppercase()));
                }
                Control::Snapshot(answer) => {
                    let now = Instant::now();
                    let mut all: HashMap<String, Scheduled> = waiting
                        .iter()
                        .map(|(n, m)| {
                            let due = due_at.get(n).map_or(Duration::ZERO, |d| d.saturating_duration_since(now));
                            (m.envelope.id.0.clone(), Scheduled::Waiting(due))
                        })
                        .collect();
                    all.extend(held.keys().map(|id| (id.clone(), Scheduled::Held)));
                    let _ = answer.send(all);
                }
            },
            _ = async { tokio::time::sleep_until(next_due.expect("guarded")).await }, if next_due.is_some() => {
                let now = Instant::now();
                while let Some(Reverse((due, n))) = heap.peek().copied() {
                    if due > now {
                        break;
                    }
                    heap.pop();
                    due_at.remove(&n);
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
