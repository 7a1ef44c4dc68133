//! The clock is passed in, never read from a global, so tests control time.

use super::time::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_offset(time::OffsetDateTime::now_utc())
    }
}

/// A clock that only moves when told to. Cloning shares the same instant.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(at: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(at.micros())))
    }
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.micros(), Ordering::SeqCst);
    }
    pub fn advance_seconds(&self, s: i64) {
        self.0
            .fetch_add(s * super::time::MICROS_PER_SECOND, Ordering::SeqCst);
    }
    pub fn advance_days(&self, d: i64) {
        self.0
            .fetch_add(d * super::time::MICROS_PER_DAY, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        // Strictly increasing by at least a microsecond per read, so events keep their order.
        Timestamp::from_micros(self.0.fetch_add(1, Ordering::SeqCst))
    }
}
