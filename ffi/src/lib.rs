//! vany-ffi: a thin, safe binding to the system DPDK (22.11, found with pkg-config at
//! build time).
//!
//! - [`Eal::init`] starts DPDK's Environment Abstraction Layer from an argument list
//!   (testpmd's conventions: `-l 0 --no-huge -m 512 --no-pci --vdev=net_null0 ...`), once
//!   per process.
//! - [`Mempool`] is a pool of packet buffers (mbufs).
//! - [`Port`] is an Ethernet device configured with N rx/tx queue pairs and started
//!   (with N > 1, RSS over the IPv6 hash types the device supports spreads what it
//!   receives). [`Port::info`] says what a device supports before it is opened (how many
//!   queue pairs: more is [`DpdkError::QueueCount`]).
//! - [`Port::into_queues`] splits a started port into one [`PortQueue`] per queue pair:
//!   each is `Send` and the only user of its queue, so N threads (each registered with
//!   [`Eal::register_thread`]) drive the N queues of one port with no lock per burst.
//!   [`Port::open_with_pools`] gives each queue's receive ring a mempool of its own. The
//!   device is stopped and closed when the last handle drops, and the pools whose mbufs
//!   may wait in its rings only after that.
//! - [`RxBatch`] holds the mbufs of one receive burst, each packet a `&[u8]` where the
//!   NIC wrote it; [`TxBatch`] holds mbufs taken from a mempool, each a `&mut [u8]` to
//!   build a frame in. Both return every mbuf they still hold to its pool on `clear` and
//!   on `Drop`.
//!
//! DPDK's data-path calls are `static inline` in its headers; `shim/vany_shim.c` exports
//! them as real functions. Built without DPDK (pkg-config does not find `libdpdk`, or
//! `VANY_NO_DPDK=1`), everything compiles and [`Eal::init`] returns
//! [`DpdkError::NotBuilt`], which says what to install.
//!
//! [`tun`] opens a Linux TUN device, with the virtio-net header and the TSO/checksum
//! offloads when the kernel grants them (it needs no DPDK and is built in every case).
//!
//! This is the only crate of the workspace with `unsafe` code; each block says why it is
//! sound in a `// SAFETY:` comment.

#![deny(unsafe_op_in_unsafe_fn)]

mod batch;
mod eal;
mod error;
mod mempool;
mod port;
mod queue;
mod sys;
pub mod tun;

pub use batch::{RxBatch, TxBatch, MAX_BURST};
pub use eal::{Eal, ThreadLcore};
pub use error::DpdkError;
pub use mempool::Mempool;
pub use port::{Port, PortConfig, PortInfo, PortStats};
pub use queue::PortQueue;

/// Whether this build of vany has DPDK (libdpdk was found at build time).
pub const BUILT_WITH_DPDK: bool = cfg!(vany_dpdk);
