//! Shared building blocks: time, clock, ids, errors and the acting user.
//! Nothing here knows about HTTP or SQL.

pub mod actor;
pub mod clock;
pub mod error;
pub mod time;

pub use actor::Actor;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, FieldError, Result};
pub use time::Timestamp;

/// A new opaque identifier: a UUIDv7, so ids sort by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
