//! HTTP infrastructure every product area uses: errors, the page layout, forms, how times are
//! shown, assets, security headers and metrics. It imports no product area; the route table
//! and the layer stack are in `crate::app`.

pub mod assets;
pub mod confirm;
pub mod error;
pub mod form;
pub mod metrics;
pub mod page;
pub mod security;
pub mod time;
