//! `vany node`: one group member on a real network.
//!
//! - [`config`]: `node.toml`, checked before anything starts (`secrets`: never printing
//!   the group key, warning when others can read it; [`io_config`]: the `[io]` table,
//!   TUN or DPDK);
//! - [`runtime`]: the data path (a [`crate::group::member::Member`] on a TUN device or a DPDK port, the
//!   real clock and real randomness) and the process around it;
//! - [`membership`]: SWIM failure detection (foca) over an authenticated UDP socket;
//! - [`log_limit`]: rate-limited log lines for what the network can trigger;
//! - [`ctl`]: the control socket behind `vany ctl`;
//! - [`conns`]: bounded connection handling for the control socket and `/metrics`;
//! - [`metrics`]: Prometheus metrics on `GET /metrics` (`metrics_l2`: layer 2 on DPDK);
//! - [`cli`]: the `vany node` and `vany ctl` commands.

pub mod cli;
pub mod config;
pub mod conns;
pub mod ctl;
pub mod io_config;
mod lent_tx;
pub mod log_limit;
pub mod membership;
pub mod metrics;
mod metrics_l2;
pub mod runtime;
mod secrets;

pub use config::NodeConfig;
