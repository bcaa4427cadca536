//! The messages of the peer protocol ([`super`]): what members say to each other, and
//! the borrowed forms of `Forward` and `Forwards` that seal client packets without
//! copying them into a [`PeerBody`] first (their postcard encodings are the same).

use std::net::Ipv6Addr;

use serde::ser::{SerializeSeq, SerializeStructVariant};
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
    /// Donor -> acceptor: client packets that reached the donor in one receive burst,
    /// in the order they came, sealed under one MAC (version 4). Sent for two packets or
    /// more that fit one datagram together; a lone packet goes as a `Forward`.
    Forwards {
        /// The packets.
        packets: Vec<ForwardedPacket>,
    },
}

/// One client packet of a [`PeerBody::Forwards`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardedPacket {
    /// The handoff (0 for a client handed off lately, not in a handoff).
    pub transfer: u64,
    /// The whole IPv6 packet.
    #[serde(with = "serde_bytes")]
    pub packet: Vec<u8>,
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
            PeerBody::Ack { .. }
                | PeerBody::Forward { .. }
                | PeerBody::Forwards { .. }
                | PeerBody::Load { .. }
        )
    }
}

/// Position of `Forward` among the variants of [`PeerBody`] (its postcard tag); a test
/// checks that [`Outgoing::Forward`] encodes exactly as a `PeerBody::Forward`.
const FORWARD_VARIANT: u32 = 8;
/// Position of `Forwards` among the variants of [`PeerBody`]; a test checks that
/// [`Outgoing::Forwards`] encodes exactly as a `PeerBody::Forwards`.
const FORWARDS_VARIANT: u32 = 15;

/// Client packets gathered for one `Forwards` message, already in its encoding (each
/// packet: its transfer and length as varints, then its bytes), so that sealing them
/// copies each packet once.
#[derive(Debug, Default)]
pub struct ForwardBatch {
    /// The member the packets go to.
    to: MemberId,
    /// Packets gathered.
    count: u32,
    /// Their encoding.
    entries: Vec<u8>,
    /// The first packet's transfer and where its bytes start in `entries`: a lone
    /// packet is sent as a `Forward`.
    first: (u64, usize),
}

impl ForwardBatch {
    /// Packets gathered.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no packet is gathered.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The member the gathered packets go to.
    pub fn to(&self) -> MemberId {
        self.to
    }

    /// Adds `packet` (handoff `transfer`) for member `to` if it goes to the same member
    /// as the packets gathered and all fit in `room` bytes of encoding; `false` (nothing
    /// added) otherwise. An empty batch takes any packet that fits.
    pub fn push(&mut self, to: MemberId, transfer: u64, packet: &[u8], room: usize) -> bool {
        let entry = varint_len(transfer) + varint_len(packet.len() as u64) + packet.len();
        if (self.count > 0 && to != self.to) || self.entries.len() + entry > room {
            return false;
        }
        if self.count == 0 {
            self.to = to;
        }
        push_varint(&mut self.entries, transfer);
        push_varint(&mut self.entries, packet.len() as u64);
        if self.count == 0 {
            self.first = (transfer, self.entries.len());
        }
        self.entries.extend_from_slice(packet);
        self.count += 1;
        true
    }

    /// The message body that sends the gathered packets (a `Forward` for a lone one).
    pub fn outgoing(&self) -> Outgoing<'_> {
        if self.count == 1 {
            let (transfer, at) = self.first;
            return Outgoing::Forward {
                transfer,
                packet: &self.entries[at..],
            };
        }
        Outgoing::Forwards {
            count: self.count,
            entries: &self.entries,
        }
    }

    /// Empties the batch (its buffer is kept).
    pub fn clear(&mut self) {
        self.count = 0;
        self.entries.clear();
    }
}

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
    /// What `PeerBody::Forwards` says: `count` packets in `entries`, each in its
    /// encoding (see [`ForwardBatch`]).
    Forwards {
        /// How many packets.
        count: u32,
        /// Their encoding.
        entries: &'a [u8],
    },
}

impl Outgoing<'_> {
    /// Whether the message is kept and sent again until acknowledged
    /// ([`PeerBody::is_reliable`]).
    pub fn is_reliable(&self) -> bool {
        match self {
            Outgoing::Body(b) => b.is_reliable(),
            Outgoing::Forward { .. } | Outgoing::Forwards { .. } => false,
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
            Outgoing::Forwards { count, entries } => {
                let mut v =
                    s.serialize_struct_variant("PeerBody", FORWARDS_VARIANT, "Forwards", 1)?;
                v.serialize_field("packets", &Entries(*count, entries))?;
                v.end()
            }
        }
    }
}

/// The `count` packets of a [`ForwardBatch`]'s encoding, serialized as the
/// `Vec<ForwardedPacket>` they encode (what [`OutgoingMessage::encode`] writes directly).
struct Entries<'a>(u32, &'a [u8]);

impl Serialize for Entries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0 as usize))?;
        let mut rest = self.1;
        while !rest.is_empty() {
            let Some((transfer, r)) = read_varint(rest) else {
                break;
            };
            let Some((len, r)) = read_varint(r) else {
                break;
            };
            let Some((packet, r)) = usize::try_from(len)
                .ok()
                .and_then(|l| r.split_at_checked(l))
            else {
                break;
            };
            seq.serialize_element(&BorrowedPacket {
                transfer,
                packet: serde_bytes::Bytes::new(packet),
            })?;
            rest = r;
        }
        seq.end()
    }
}

/// A [`ForwardedPacket`] with borrowed bytes (same encoding).
#[derive(Serialize)]
struct BorrowedPacket<'a> {
    transfer: u64,
    packet: &'a serde_bytes::Bytes,
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
    /// Appends the message's postcard encoding to `buf`: a `Forward` or `Forwards`
    /// written here directly (the per-packet case; a test checks it is postcard's, byte
    /// for byte), any other body through postcard.
    pub(super) fn encode(&self, mut buf: Vec<u8>) -> Result<Vec<u8>, postcard::Error> {
        // Postcard: struct fields in order, integers, sequence lengths and the enum's
        // variant index as unsigned LEB128 varints, bytes as a varint length and the bytes.
        let (variant, fields, bytes): (u32, &[u64], &[u8]) = match self.body {
            Outgoing::Forward { transfer, packet } => {
                (FORWARD_VARIANT, &[transfer, packet.len() as u64], packet)
            }
            Outgoing::Forwards { count, entries } => {
                (FORWARDS_VARIANT, &[u64::from(count)], entries)
            }
            Outgoing::Body(_) => return postcard::to_extend(self, buf),
        };
        buf.reserve(6 * 10 + bytes.len());
        let head = [
            u64::from(self.from),
            u64::from(self.to),
            self.seq,
            u64::from(variant),
        ];
        for v in head.into_iter().chain(fields.iter().copied()) {
            push_varint(&mut buf, v);
        }
        buf.extend_from_slice(bytes);
        Ok(buf)
    }
}

/// Bytes `v` takes as an unsigned LEB128 varint.
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads an unsigned LEB128 varint from the front of `b`: the value and the rest.
fn read_varint(b: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, &b[i + 1..]));
        }
    }
    None
}

/// Appends `v` as an unsigned LEB128 varint (postcard's integer encoding).
fn push_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}
