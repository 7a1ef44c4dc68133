//! The directory: organisations, professionals (RPPS/ADELI, profession, specialties,
//! memberships) and teams (specialty, members, case assigners).

pub mod model;
pub mod repo;
pub mod service;
