//! Patients: identity traits, INS and identity status, médecin traitant.

pub mod model;
pub mod repo;
pub mod service;
