//! The node's backend as the group member's [`LendingSink`]: each TCP segment the
//! member sends is built in the buffer the backend lends (on DPDK an mbuf), and counted.

use super::metrics::IoCounters;
use crate::group::member::LendingSink;
use crate::io::{Built, IoError, Lent, PacketIo};

/// The backend as the member's [`LendingSink`]: each TCP segment built in the buffer
/// the backend lends, and counted.
pub(super) struct LentTx<'a, I: PacketIo> {
    pub(super) io: &'a mut I,
    pub(super) counters: &'a mut IoCounters,
    /// The backend's error, if one stopped the sending.
    pub(super) failed: Option<IoError>,
}

impl<I: PacketIo> LendingSink for LentTx<'_, I> {
    fn lend(&mut self, build: &mut dyn FnMut(&mut [u8]) -> Built) -> bool {
        let mut segmented = false;
        let sent = self.io.send_with_meta(&mut |buf| {
            let built = build(buf);
            segmented = built.1.is_some();
            built
        });
        match sent {
            Ok(Lent::Sent(len)) => {
                self.counters.tx_packets += 1;
                self.counters.tx_bytes += len as u64;
                self.counters.tx_super += u64::from(segmented);
                true
            }
            Ok(Lent::Empty) => true,
            // No buffer to lend: stop; built but not taken: counted, go on.
            Ok(Lent::Dropped(len)) => {
                self.counters.tx_dropped += 1;
                len > 0
            }
            Err(e) => {
                self.failed = Some(e);
                false
            }
        }
    }
}
