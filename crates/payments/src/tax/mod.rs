//! Tax building blocks: encryption of taxpayer data at rest, validation and masking of TINs and
//! bank details, and Form 1099-NEC summaries as CSV and PDF. Nothing here touches the database.

pub mod crypto;
pub mod forms;
pub mod mask;
