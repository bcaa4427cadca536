//! EAL start-up, once per process.

use std::ffi::{c_char, c_int, CString};
use std::sync::Mutex;

use crate::error::{rte_errno, strerror};
use crate::DpdkError;

/// Whether `rte_eal_init` was called in this process (successfully or not: DPDK does not
/// allow a second call either way).
static STARTED: Mutex<bool> = Mutex::new(false);

/// Proof that the EAL is initialised: what creates mempools and opens ports. Cheap to
/// copy; the EAL stays up until the process exits.
#[derive(Debug, Clone, Copy)]
pub struct Eal {
    _private: (),
}

impl Eal {
    /// Initialises the EAL with `args` (as on testpmd's command line, without the program
    /// name: e.g. `["-l", "0", "--no-huge", "-m", "512", "--no-pci", "--vdev=net_null0"]`).
    ///
    /// Only the first call in a process may succeed; later ones return
    /// [`DpdkError::AlreadyInitialized`] (DPDK cannot be initialised twice, not even
    /// after a failure).
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal, DpdkError> {
        if !crate::BUILT_WITH_DPDK {
            return Err(DpdkError::NotBuilt);
        }
        let mut owned = Vec::with_capacity(args.len() + 1);
        owned.push(CString::from(c"vany"));
        for a in args {
            let a = a.as_ref();
            owned.push(CString::new(a).map_err(|_| DpdkError::BadArgument { arg: a.into() })?);
        }
        let argc = c_int::try_from(owned.len()).map_err(|_| DpdkError::BadArgument {
            arg: format!("({} arguments)", owned.len()),
        })?;
        let mut started = STARTED.lock().unwrap_or_else(|p| p.into_inner());
        if *started {
            return Err(DpdkError::AlreadyInitialized);
        }
        *started = true;
        // rte_eal_init may permute argv; it gets its own array of pointers into `owned`,
        // and `owned` outlives the call (EAL copies what it keeps).
        let mut argv: Vec<*mut c_char> = owned.iter().map(|c| c.as_ptr().cast_mut()).collect();
        argv.push(std::ptr::null_mut());
        // SAFETY: argv holds argc valid NUL-terminated strings followed by NULL, alive for
        // the whole call; the STARTED lock makes this the process's only call.
        let rc = unsafe { crate::sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if rc < 0 {
            let errno = rte_errno();
            return Err(DpdkError::EalInit {
                errno,
                message: strerror(errno),
            });
        }
        Ok(Eal { _private: () })
    }

    /// Registers the calling thread with DPDK, which gives it an lcore id: a thread that
    /// runs a poll loop but was not started by the EAL needs one for the mempools'
    /// per-core caches (without, every mbuf taken or returned goes through the shared
    /// ring). The registration ends when the returned guard drops (on the same thread).
    pub fn register_thread(&self) -> Result<ThreadLcore, DpdkError> {
        // SAFETY: the EAL is up (`self` proves it); registers the calling thread only.
        let rc = unsafe { crate::sys::rte_thread_register() };
        if rc < 0 {
            let errno = rte_errno();
            return Err(DpdkError::ThreadRegister {
                errno,
                message: strerror(errno),
            });
        }
        Ok(ThreadLcore {
            _not_send: std::marker::PhantomData,
        })
    }
}

/// A thread registered with DPDK ([`Eal::register_thread`]); unregistered on drop. Not
/// `Send`: it belongs to the thread that registered.
#[derive(Debug)]
pub struct ThreadLcore {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ThreadLcore {
    fn drop(&mut self) {
        // SAFETY: this thread registered (the guard cannot leave it); releases its lcore id.
        unsafe { crate::sys::rte_thread_unregister() }
    }
}
