//! Pure rules of the TwisterLab Ops Portal: types and functions only, no I/O.

pub mod alerting;
pub mod business_hours;
pub mod contact;
pub mod health;
pub mod incident;
pub mod maintenance;
pub mod notification;
pub mod period;
pub mod recurrence;
pub mod role;
pub mod rotation;
pub mod runbook;
pub mod severity;
pub mod sla;
pub mod status;
