//! Errors of the DPDK binding.

use std::ffi::{c_int, CStr};

/// What went wrong in DPDK.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpdkError {
    /// This build has no DPDK.
    #[error(
        "this vany was built without DPDK: pkg-config did not find libdpdk at build time \
         (or VANY_NO_DPDK was set); install it with `apt-get install libdpdk-dev \
         pkg-config` (DPDK 21.11 or later) and rebuild"
    )]
    NotBuilt,
    /// [`Eal::init`](crate::Eal::init) was called before in this process.
    #[error("the DPDK EAL is already initialised in this process (it can be initialised once)")]
    AlreadyInitialized,
    /// An EAL argument holds a NUL byte, or there are too many.
    #[error("invalid EAL argument {arg:?}")]
    BadArgument {
        /// The argument.
        arg: String,
    },
    /// `rte_eal_init` failed.
    #[error(
        "DPDK EAL initialisation failed: {message} (rte_errno {errno}); check that you are \
         root, that hugepages are reserved (to try it out without: `--no-huge -m 512`), and \
         that the devices are bound to a DPDK driver (or use --no-pci with a --vdev)"
    )]
    EalInit {
        /// rte_errno.
        errno: i32,
        /// rte_strerror's text.
        message: String,
    },
    /// A thread could not be registered with DPDK (no lcore id left).
    #[error(
        "cannot register a poll-loop thread with DPDK: {message} (rte_errno {errno}); \
         there may be no lcore id left"
    )]
    ThreadRegister {
        /// rte_errno.
        errno: i32,
        /// rte_strerror's text.
        message: String,
    },
    /// A mempool could not be created.
    #[error("cannot create mempool `{name}` of {mbufs} mbufs: {message} (rte_errno {errno})")]
    Mempool {
        /// The pool's name.
        name: String,
        /// The number of mbufs asked for.
        mbufs: u32,
        /// rte_errno.
        errno: i32,
        /// rte_strerror's text.
        message: String,
    },
    /// No Ethernet device of that name or id.
    #[error(
        "DPDK port `{name}` not found ({available} ports available; name a --vdev or a PCI \
         address bound to a DPDK driver in the EAL arguments)"
    )]
    PortNotFound {
        /// The name or id asked for.
        name: String,
        /// How many ports DPDK has.
        available: u16,
    },
    /// The port is already opened by a [`Port`](crate::Port) in this process.
    #[error("DPDK port {port} is already in use in this process")]
    PortInUse {
        /// The port id.
        port: u16,
    },
    /// A port operation failed.
    #[error("DPDK port {port}: {op} failed: {message} (error {code})")]
    Port {
        /// The port id.
        port: u16,
        /// What was being done.
        op: &'static str,
        /// The (positive) errno.
        code: i32,
        /// Its text.
        message: String,
    },
    /// The device cannot have that many rx/tx queue pairs.
    #[error(
        "DPDK port `{port}` cannot have {asked} rx/tx queue pairs: the device supports 1 to \
         {max}"
    )]
    QueueCount {
        /// The port's name.
        port: String,
        /// The queue pairs asked for.
        asked: u16,
        /// The most the device supports (the lower of its receive and transmit maxima).
        max: u16,
    },
    /// A bad queue count, queue id or ring size.
    #[error("invalid port configuration: {0}")]
    BadConfig(String),
    /// The mempool has no free mbuf.
    #[error("mempool `{name}` is exhausted (no free mbuf); make it larger")]
    PoolExhausted {
        /// The pool's name.
        name: String,
    },
    /// A packet does not fit an mbuf.
    #[error("a packet of {len} bytes does not fit an mbuf ({max} bytes of room)")]
    TooLarge {
        /// The length asked for.
        len: usize,
        /// The room of one mbuf.
        max: usize,
    },
}

/// rte_strerror's text for `errno` (positive).
pub(crate) fn strerror(errno: c_int) -> String {
    // SAFETY: rte_strerror returns a pointer to a NUL-terminated string, static or in a
    // per-thread buffer, valid until the next call on this thread; we copy it at once.
    let text = unsafe { crate::sys::rte_strerror(errno) };
    if text.is_null() {
        return format!("error {errno}");
    }
    // SAFETY: non-null and NUL-terminated (above).
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

/// The calling thread's rte_errno.
pub(crate) fn rte_errno() -> c_int {
    // SAFETY: reads a thread-local int; no precondition.
    unsafe { crate::sys::vany_rte_errno() }
}
