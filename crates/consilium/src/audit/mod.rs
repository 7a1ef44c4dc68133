//! The audit trail: every read of a case or patient, every write and every denied access,
//! appended in the same transaction as the change it records; append-only,
//! sequence-numbered and hash-chained, verifiable offline (`consilium audit verify`).

pub mod model;
pub mod repo;

pub use model::{Break, Checkpoint, NewEntry, Outcome, StoredEntry, VerifyReport};
pub use repo::{append, verify, verify_against};
