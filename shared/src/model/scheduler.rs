//! Bounded background work shared by the scheduled passes (token refresh, health checks, webhook
//! deliveries): jobs grouped by a key (a token endpoint's or a server's origin), at most
//! `concurrency` in flight, at most `per_key` per key served round-robin so one slow or hostile
//! origin never holds every slot, and no job started unless it can finish within the budget.
//! What could not start stays for the next pass.

use std::{
    collections::{HashMap, VecDeque},
    time::Duration,
};

use futures_util::{StreamExt, stream::FuturesUnordered};
use tokio::time::Instant;

/// How much work a pass may do at once, and until when.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Jobs in flight at once.
    pub concurrency: usize,
    /// Jobs in flight for one key.
    pub per_key: usize,
    /// The longest one job may take: none starts unless this much of the budget is left.
    pub job_time: Duration,
    /// When the pass must be done.
    pub budget_end: Instant,
}

/// Runs `work` on every job, within `limits`, handing each result to `done` as it finishes.
/// Returns the jobs left unstarted when the budget ran out.
pub async fn run<T, R, F, Fut>(
    jobs: Vec<(String, T)>,
    limits: &Limits,
    work: F,
    mut done: impl FnMut(R),
) -> Vec<T>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = R>,
{
    let mut scheduler = Scheduler::new(jobs, limits.per_key);
    let mut running = FuturesUnordered::new();
    loop {
        let may_start = Instant::now() + limits.job_time <= limits.budget_end;
        while may_start && running.len() < limits.concurrency.max(1) {
            let Some((slot, job)) = scheduler.next() else {
                break;
            };
            let future = work(job);
            running.push(async move { (slot, future.await) });
        }
        match running.next().await {
            Some((slot, result)) => {
                scheduler.finished(slot);
                done(result);
            }
            None => break,
        }
    }
    scheduler.into_queued()
}

/// The scheme, host and port of a URL: what per-key caps count by (the text itself when it is
/// no URL).
pub fn origin_key(url: &str) -> String {
    url::Url::parse(url)
        .map(|url| url.origin().ascii_serialization())
        .unwrap_or_else(|_| url.to_owned())
}

/// Per-key queues served round-robin: a key is in `ready` exactly while it has queued jobs and
/// fewer than the cap in flight, so picking the next job is O(1).
struct Scheduler<T> {
    queues: Vec<VecDeque<T>>,
    in_flight: Vec<usize>,
    ready: VecDeque<usize>,
    cap: usize,
}

impl<T> Scheduler<T> {
    fn new(jobs: Vec<(String, T)>, cap: usize) -> Self {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut queues: Vec<VecDeque<T>> = Vec::new();
        for (key, job) in jobs {
            let slot = *index.entry(key).or_insert_with(|| {
                queues.push(VecDeque::new());
                queues.len() - 1
            });
            queues[slot].push_back(job);
        }
        Self {
            in_flight: vec![0; queues.len()],
            ready: (0..queues.len()).collect(),
            queues,
            cap: cap.max(1),
        }
    }

    fn eligible(&self, slot: usize) -> bool {
        !self.queues[slot].is_empty() && self.in_flight[slot] < self.cap
    }

    /// The next job to start, if any key may take one.
    fn next(&mut self) -> Option<(usize, T)> {
        let slot = self.ready.pop_front()?;
        let job = self.queues[slot].pop_front()?;
        self.in_flight[slot] += 1;
        if self.eligible(slot) {
            self.ready.push_back(slot);
        }
        Some((slot, job))
    }

    fn finished(&mut self, slot: usize) {
        let was_eligible = self.eligible(slot);
        self.in_flight[slot] -= 1;
        if !was_eligible && self.eligible(slot) {
            self.ready.push_back(slot);
        }
    }

    #[cfg(test)]
    fn queued(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }

    fn into_queued(self) -> Vec<T> {
        self.queues.into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_keys() {
        assert_eq!(
            origin_key("https://idp.example.com/oauth/token?x=1"),
            "https://idp.example.com"
        );
        assert_eq!(
            origin_key("http://127.0.0.1:3002/token"),
            "http://127.0.0.1:3002"
        );
    }

    #[test]
    fn the_scheduler_caps_each_key_and_serves_keys_in_turn() {
        let jobs = [("a", "a1"), ("a", "a2"), ("a", "a3"), ("b", "b1")]
            .map(|(key, job)| (key.to_owned(), job))
            .to_vec();
        let mut scheduler = Scheduler::new(jobs, 2);
        let started: Vec<_> = std::iter::from_fn(|| scheduler.next()).collect();
        assert_eq!(started, [(0, "a1"), (1, "b1"), (0, "a2")]);
        assert_eq!(scheduler.queued(), 1);
        scheduler.finished(1);
        assert!(scheduler.next().is_none(), "key a is at its cap");
        scheduler.finished(0);
        assert_eq!(scheduler.next(), Some((0, "a3")), "a has room again");
        assert_eq!(scheduler.queued(), 0);
    }

    #[tokio::test]
    async fn a_pass_starts_nothing_it_cannot_finish_within_the_budget() {
        let jobs = vec![("a".to_owned(), 1), ("b".to_owned(), 2)];
        let limits = Limits {
            concurrency: 4,
            per_key: 1,
            job_time: Duration::from_secs(10),
            budget_end: Instant::now() + Duration::from_secs(1),
        };
        let mut results = Vec::new();
        let left = run(jobs, &limits, |n| async move { n }, |n| results.push(n)).await;
        assert_eq!((left.len(), results.len()), (2, 0));
    }
}
