//! The emulator's clock. Every time-based rule (visibility timeouts, delays, retention, dedup
//! windows, deletion windows, long polling) reads it, so tests can move time forward instead
//! of sleeping: `advance` shifts it and wakes every waiter.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Real time plus an offset that only tests change.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    offset_ms: AtomicI64,
    changed: Notify,
}

impl Clock {
    /// Now, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        system_ms() + self.inner.offset_ms.load(Ordering::Relaxed)
    }

    /// Now, in Unix seconds.
    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Moves time forward and wakes everything waiting on it.
    pub fn advance(&self, by: Duration) {
        self.inner
            .offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::Relaxed);
        self.inner.changed.notify_waiters();
    }

    /// Waits until `deadline_ms` (clock time) or until the clock is moved, whichever is first.
    /// Callers re-check their condition afterwards.
    pub async fn sleep_until(&self, deadline_ms: i64) {
        let changed = self.inner.changed.notified();
        let left = deadline_ms - self.now_ms();
        if left <= 0 {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(left as u64)) => {}
            () = changed => {}
        }
    }
}

/// The system clock in Unix milliseconds: the only place the emulator reads it.
fn system_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn advancing_wakes_waiters_without_real_waiting() {
        let c = Clock::default();
        let deadline = c.now_ms() + 3_600_000;
        let c2 = c.clone();
        let t = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            c2.advance(Duration::from_secs(7200));
        });
        tokio::time::timeout(Duration::from_secs(5), c.sleep_until(deadline))
            .await
            .expect("woken by advance, not by the hour passing");
        t.await.expect("join");
        assert!(c.now_ms() >= deadline);
    }
}
