//! Consilium: an open-source teleexpertise platform. See `docs/architecture.md`.

pub mod app;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod cases;
pub mod codes;
pub mod config;
pub mod db;
pub mod demo;
pub mod directory;
pub mod idempotency;
pub mod identifiers;
pub mod jobs;
pub mod kernel;
pub mod mail;
pub mod notifications;
pub mod patients;
pub mod platform;
pub mod reporting;
pub mod reports;
pub mod routing;
pub mod rules;
pub mod storage;
pub mod web;
pub mod webhooks;
