//! The compte rendu (R10): the report document (draft made with the answer, preview,
//! signing that freezes the PDF, corrections as new versions), its PDF (`consilium-pdf`,
//! typst), its CDA R2 TLM-CR form (`cda.rs`, pure, checked against the official ANS rules)
//! and its delivery to the requester and the médecin traitant (`service.rs`, a job).

pub mod cda;
pub mod content;
pub mod repo;
pub mod service;
