//! Teleexpertise cases: the lifecycle of domain.md §3.

pub mod model;
pub mod reads;
pub mod repo;
pub mod service;
pub mod templates;

pub use model::CaseState;
