//! `vany node`: one group member on a real network.
//!
//! - [`config`]: `node.toml`, checked before anything starts (`secrets`: never printing
//!   the group key, warning when others can read it; [`io_config`]: the `[io]` table,
//!   TUN or DPDK; [`cores_config`]: one member per core of a multi-core node);
//! - [`runtime`]: the data path (a [`crate::group::member::Member`] on a TUN device or a DPDK port, the
//!   real clock and real randomness) and the process around it;
//! - [`process`]: the `vany node` process around the data path, one per core
//!   ([`cores`]: the links between the cores of one node; `multicore`: control and
//!   metrics over several cores);
//! - [`membership`]: SWIM failure detection (foca) over an authenticated UDP socket;
//! - [`log_limit`]: rate-limited log lines for what the network can trigger;
//! - [`ctl`]: the control socket behind `vany ctl`;
//! - [`conns`]: bounded connection handling for the control socket and `/metrics`;
//! - [`metrics`]: Prometheus metrics on `GET /metrics` (`metrics_l2`: layer 2 on DPDK);
//! - [`cli`]: the `vany node` and `vany ctl` commands.

pub mod apps_config;
pub mod cli;
pub mod config;
pub mod conns;
pub mod cores;
pub mod cores_config;
pub mod ctl;
pub mod events;
pub mod io_config;
mod lent_tx;
pub mod log_limit;
pub mod membership;
pub mod metrics;
mod metrics_apps;
mod metrics_l2;
mod multicore;
pub mod process;
pub mod runtime;
mod secrets;

pub use config::NodeConfig;
