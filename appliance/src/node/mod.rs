//! `vany node`: one group member on a real network.
//!
//! - [`config`]: `node.toml`, checked before anything starts;
//! - [`runtime`]: the data path (a [`crate::group::member::Member`] on a TUN device, the
//!   real clock and real randomness) and the process around it;
//! - [`membership`]: SWIM failure detection (foca) over an authenticated UDP socket;
//! - [`log_limit`]: rate-limited log lines for what the network can trigger;
//! - [`ctl`]: the control socket behind `vany ctl`;
//! - [`metrics`]: Prometheus metrics on `GET /metrics`;
//! - [`cli`]: the `vany node` and `vany ctl` commands.

pub mod cli;
pub mod config;
pub mod ctl;
pub mod log_limit;
pub mod membership;
pub mod metrics;
pub mod runtime;

pub use config::NodeConfig;
