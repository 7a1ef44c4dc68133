//! Routing and deadlines (domain.md §4, R9): the timers set at submission (reminders to the
//! assignee, escalation to the case assigner, expiry with the requester told), run as jobs.

pub mod assign;
pub mod model;
pub mod service;

pub use model::{AcceptanceRules, AssignStrategy, Candidate, DeadlinePolicy, RoutingRequest, Step};
pub use service::{register_jobs, schedule_deadlines};
