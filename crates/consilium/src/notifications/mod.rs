//! Notifications: in-app events per user (a list of unread ones, marked read), mailed at
//! once or in a daily digest (the user's choice). A notification names a case by number
//! and link only: never patient data (domain.md §4).

pub mod model;
pub mod repo;
pub mod service;

pub use model::{EmailMode, Kind};
pub use service::{Notification, notify, register_jobs};
