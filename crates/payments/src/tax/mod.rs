//! Tax: encryption of taxpayer data at rest, validation and masking of TINs and bank details,
//! creators' tax profiles, and Form 1099-NEC summaries computed from the ledger and exported as
//! CSV and PDF.
//!
//! `crypto`, `mask` and `forms` are pure building blocks; `profiles` and `reports` are the parts
//! that read and write the database.

pub mod config;
pub mod forms;
pub mod mask;
pub mod profiles;
pub mod reports;

pub use config::TaxConfig;
