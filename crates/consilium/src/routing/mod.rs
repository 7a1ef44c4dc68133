//! Routing and deadlines (domain.md §4, R9): the timers set at submission (reminders to the
//! assignee, escalation to the case assigner, expiry with the requester told), run as jobs;
//! the team policies; acceptance rules, absences and rotas; the requester's search and the
//! assigner's team board.

pub mod assign;
pub mod board;
pub mod model;
pub mod rules;
pub mod service;
pub mod territory;
pub mod weekly;

pub use model::{AcceptanceRules, AssignStrategy, Candidate, DeadlinePolicy, RoutingRequest, Step};
pub use service::{register_jobs, schedule_deadlines};
