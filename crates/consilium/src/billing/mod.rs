//! Billing: the French rule pack as data (R3, R4, R8, R11–R17) and the acts each side of a
//! case may bill. `model.rs` is pure; `repo.rs` SQL; `service.rs` use cases.

pub mod model;
pub mod repo;
pub mod service;
