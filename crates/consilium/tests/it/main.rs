#![allow(clippy::unwrap_used)]
//! Integration tests: each test starts its own server on an ephemeral port over its own
//! database, on SQLite and on PostgreSQL (`both!`), and ends by verifying the audit chain.

mod harness;

mod access;
mod attachments;
mod audit;
mod billing;
mod crash;
mod deadlines;
mod directory;
mod handover;
mod instances;
mod jobs;
mod lifecycle;
mod mail;
mod oidc;
mod operations;
mod passkeys;
mod proxies;
mod reports;
mod routing;
mod routing_rules;
mod routing_week;
mod signin;
mod smtp;
mod teams;
mod ui;
mod webhooks;
mod webhooks_ui;
