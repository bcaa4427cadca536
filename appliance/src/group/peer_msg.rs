//! The messages of the peer protocol ([`super`]): what members say to each other, and
//! the borrowed form of a `Forward` that seals a client's packet without copying it
//! into a [`PeerBody`] first (its postcard encoding is the same).

use std::net::Ipv6Addr;

use serde::ser::SerializeStructVariant;
use serde::{Deserialize, Serialize, Serializer};

use super::MemberId;
/// A home keygen token as it travels between members (times relative to sending).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayedToken {
    /// The token.
    pub token: [u8; 8],
    /// The CN's nonce index.
    pub nonce_index: u16,
    /// How long ago (microseconds) the HoT arrived.
    pub age_micros: u64,
}

/// What members say to each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PeerBody {
    /// Member -> contact node: run a home test for `client` on my behalf.
    HomeTestRequest {
        /// The client (correspondent node).
        client: Ipv6Addr,
    },
    /// Contact node -> member: the home token the init cookie named you for.
    HomeToken {
        /// The client.
        client: Ipv6Addr,
        /// The token.
        token: RelayedToken,
    },
    /// Serving member -> others: measure your round trip to `client` (CoTI/CoT), which
    /// also gives you a care-of token for it.
    Probe {
        /// The client.
        client: Ipv6Addr,
    },
    /// Answer to a probe.
    ProbeResult {
        /// The client.
        client: Ipv6Addr,
        /// Measured CoTI -> CoT round trip in microseconds.
        rtt_micros: u64,
    },
    /// Donor -> acceptor, once the session is frozen: part `index` of `count` of the
    /// postcard-encoded `SessionSnapshot` (a session of any size travels in parts of at
    /// most [`TRANSFER_PART`] bytes, sent under a window; see `group::member::bulk`).
    Transfer {
        /// Names this handoff.
        transfer: u64,
        /// Which part, from 0.
        index: u32,
        /// How many parts.
        count: u32,
        /// The part's bytes.
        #[serde(with = "serde_bytes")]
        session: Vec<u8>,
    },
    /// Acceptor -> donor: restored, BU sent.
    Restored {
        /// The handoff.
        transfer: u64,
    },
    /// Acceptor -> donor: cannot take it; thaw (or, before the freeze, stop copying).
    Refused {
        /// The handoff.
        transfer: u64,
        /// Why.
        reason: RefuseReason,
    },
    /// Acceptor -> donor: the client's binding points at the acceptor; drop the copy.
    Commit {
        /// The handoff.
        transfer: u64,
    },
    /// Donor -> acceptor: a client packet that still reached the donor.
    Forward {
        /// The handoff.
        transfer: u64,
        /// The whole IPv6 packet.
        #[serde(with = "serde_bytes")]
        packet: Vec<u8>,
    },
    /// Receiver -> sender: these messages (sequence numbers) arrived.
    Ack {
        /// The sequence numbers.
        seqs: Vec<u64>,
    },
    /// Donor -> acceptor: the donor thawed this handoff before it heard `Restored`; the
    /// acceptor drops the copy it restored and forwards the client's packets back.
    Abandon {
        /// The handoff.
        transfer: u64,
    },
    /// Contact node -> members: who serves a client now (for BRR relaying and load).
    Serving {
        /// The client.
        client: Ipv6Addr,
        /// The member.
        member: MemberId,
    },
    /// Member -> members, every second while a load policy runs: how many sessions the
    /// sender serves (RFC-free; the input of [`Load`](super::policy::Load)).
    Load {
        /// Sessions served.
        sessions: u32,
    },
    /// Contact node -> the member that asked it for the client's home token: the client
    /// sent a Binding Refresh Request to the anycast address (RFC 6275 §9.5.5).
    RefreshRequested {
        /// The client (correspondent node).
        client: Ipv6Addr,
    },
    /// Donor -> acceptor, while the donor still serves the session: send-buffer bytes of
    /// one connection from stream offset `offset`, copied ahead of the freeze so that
    /// the frozen snapshot can leave them out (pre-copy). The first one of a handoff
    /// (possibly empty) asks the acceptor whether it can take the session at all: it
    /// refuses then, before the donor stops anything.
    Precopy {
        /// The handoff.
        transfer: u64,
        /// The client whose session it is.
        client: Ipv6Addr,
        /// The connection's port on the anycast address.
        local_port: u16,
        /// The client's port.
        remote_port: u16,
        /// Stream offset of the first byte.
        offset: u64,
        /// The bytes.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
}

/// Why an acceptor refused a handoff (carried in `Refused`, logged and counted by the
/// donor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum RefuseReason {
    /// The acceptor is leaving the group itself.
    #[error("the acceptor is draining")]
    Draining,
    /// The session did not decode, or a connection in it did not restore.
    #[error("malformed session snapshot: {0}")]
    Malformed(String),
    /// Send data the snapshot left out (pre-copied) never arrived whole.
    #[error("pre-copied send data is missing")]
    PrecopyMissing,
    /// Taking the session would exceed the acceptor's budget for incoming state.
    #[error("session too large: {needed} bytes would exceed the budget of {budget} for incoming sessions")]
    TooLarge {
        /// Bytes the acceptor would hold.
        needed: u64,
        /// Its budget.
        budget: u64,
    },
    /// The acceptor cannot bind the client to its care-of address yet (no care-of keygen
    /// token, no home token).
    #[error("cannot bind the client: {0}")]
    Binding(String),
    /// A connection of the session collides with one the acceptor holds.
    #[error("connection already exists at the acceptor")]
    Collision,
    /// The session snapshot is of a format version the acceptor does not read (a group
    /// in the middle of a rolling upgrade).
    #[error("session snapshot version {found}; the acceptor reads version {supported}")]
    Version {
        /// The donor's version.
        found: u16,
        /// The acceptor's.
        supported: u16,
    },
    /// An app of the session reads content the acceptor does not have the same copy
    /// of (a `files` app's file with another content hash, or no such app here).
    #[error("different content: {0}")]
    Content(String),
}

impl RefuseReason {
    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            RefuseReason::Draining => "refused_draining",
            RefuseReason::Malformed(_) => "refused_malformed",
            RefuseReason::PrecopyMissing => "refused_precopy_missing",
            RefuseReason::TooLarge { .. } => "refused_too_large",
            RefuseReason::Binding(_) => "refused_binding",
            RefuseReason::Collision => "refused_collision",
            RefuseReason::Version { .. } => "refused_version",
            RefuseReason::Content(_) => "refused_content",
        }
    }
}

/// A sealed message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerMessage {
    /// Sender.
    pub from: MemberId,
    /// Receiver: a message recorded on its way to one member is refused by the others.
    pub to: MemberId,
    /// Sender's message counter (replay protection).
    pub seq: u64,
    /// Content.
    pub body: PeerBody,
}

impl PeerBody {
    /// Whether the message is kept and sent again until acknowledged: everything but
    /// acknowledgements, forwarded client packets (TCP recovers those itself) and load
    /// reports (the next one comes in a second).
    pub fn is_reliable(&self) -> bool {
        !matches!(
            self,
            PeerBody::Ack { .. } | PeerBody::Forward { .. } | PeerBody::Load { .. }
        )
    }
}

/// Position of `Forward` among the variants of [`PeerBody`] (its postcard tag); a test
/// checks that [`Outgoing::Forward`] encodes exactly as a `PeerBody::Forward`.
const FORWARD_VARIANT: u32 = 8;

/// A message body to seal: a [`PeerBody`], or a client packet to forward, borrowed (no
/// copy of the packet into a `PeerBody::Forward`; the receiver gets one all the same).
#[derive(Debug, Clone, Copy)]
pub enum Outgoing<'a> {
    /// Any message.
    Body(&'a PeerBody),
    /// What `PeerBody::Forward { transfer, packet }` says.
    Forward {
        /// The handoff.
        transfer: u64,
        /// The whole IPv6 packet.
        packet: &'a [u8],
    },
}

impl Outgoing<'_> {
    /// Whether the message is kept and sent again until acknowledged
    /// ([`PeerBody::is_reliable`]).
    pub fn is_reliable(&self) -> bool {
        match self {
            Outgoing::Body(b) => b.is_reliable(),
            Outgoing::Forward { .. } => false,
        }
    }
}

impl Serialize for Outgoing<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Outgoing::Body(b) => b.serialize(s),
            Outgoing::Forward { transfer, packet } => {
                let mut v =
                    s.serialize_struct_variant("PeerBody", FORWARD_VARIANT, "Forward", 2)?;
                v.serialize_field("transfer", transfer)?;
                v.serialize_field("packet", serde_bytes::Bytes::new(packet))?;
                v.end()
            }
        }
    }
}

/// A [`PeerMessage`] with a borrowed body, as it is sealed (same encoding).
#[derive(Serialize)]
pub(super) struct OutgoingMessage<'a> {
    pub(super) from: MemberId,
    pub(super) to: MemberId,
    pub(super) seq: u64,
    pub(super) body: Outgoing<'a>,
}

impl OutgoingMessage<'_> {
    /// Appends the message's postcard encoding to `buf`: a `Forward` written here
    /// directly (the per-packet case; a test checks it is postcard's, byte for byte),
    /// any other body through postcard.
    pub(super) fn encode(&self, buf: Vec<u8>) -> Result<Vec<u8>, postcard::Error> {
        let Outgoing::Forward { transfer, packet } = self.body else {
            return postcard::to_extend(self, buf);
        };
        let mut buf = buf;
        buf.reserve(4 * 10 + 3 + packet.len());
        // Postcard: struct fields in order, integers and the enum's variant index as
        // unsigned LEB128 varints, bytes as a varint length and the bytes.
        for v in [
            u64::from(self.from),
            u64::from(self.to),
            self.seq,
            u64::from(FORWARD_VARIANT),
            transfer,
            packet.len() as u64,
        ] {
            push_varint(&mut buf, v);
        }
        buf.extend_from_slice(packet);
        Ok(buf)
    }
}

/// Appends `v` as an unsigned LEB128 varint (postcard's integer encoding).
fn push_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}
