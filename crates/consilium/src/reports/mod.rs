//! The compte rendu (R10). So far: its CDA R2 TLM-CR form (`cda.rs`, pure, checked against
//! the official ANS rules). The report document itself (versions, signing), its PDF
//! (`crates/consilium-pdf`, not yet in the workspace) and its delivery are not built yet.

pub mod cda;
