//! The kinds of background work, one file each: what a message of that kind holds, its group, and
//! how it runs.

mod check_server;
mod deliver_webhook;
mod refresh_token;
mod sweep_connections;

pub use check_server::{Check, CheckServer};
pub use deliver_webhook::{Deliver, DeliverWebhook};
pub use refresh_token::{Refresh, RefreshToken};
pub use sweep_connections::{Sweep, SweepConnections};
