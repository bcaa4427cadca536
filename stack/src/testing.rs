//! Packet builders for tests: an IPv6 packet with the defaults tests want, a Binding
//! Update (plain or signed with a Kbm) and a TCP segment, so that a test names only the
//! fields it is about instead of spelling out every field of `PacketRepr`, `MhRepr` and
//! `TcpRepr` again.
//!
//! Compiled for the crate's unit tests and, with the `testing` feature, for its
//! integration tests (the crate dev-depends on itself with that feature); never part of
//! a normal build.

use std::net::Ipv6Addr;

use crate::mip6::rr::{self, Kbm};
use crate::wire::{
    BindingUpdate, MhMessage, MhOption, MhOptions, MhRepr, PacketRepr, TcpControl, TcpRepr,
    TcpSeqNumber, TcpTimestampRepr, Upper,
};

/// A Mobility Header packet ([`PacketRepr::new`]) carrying `message` without options.
pub fn mh_packet(src: Ipv6Addr, dst: Ipv6Addr, message: MhMessage<'_>) -> PacketRepr<'_> {
    PacketRepr::new(src, dst, Upper::Mh(MhRepr::new(message)))
}

/// `repr` emitted into a buffer of exactly its length.
pub fn emit(repr: &PacketRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0; repr.buffer_len()];
    let n = repr.emit(&mut buf).expect("a test packet emits");
    buf.truncate(n);
    buf
}

/// Nonce Indices, then a Binding Authorization Data option of zeros for
/// [`rr::emit_signed`] to fill in: the options of every signed BU.
pub fn nonce_and_auth(home: u16, care_of: u16) -> MhOptions<'static> {
    let mut options = MhOptions::new();
    options
        .push(MhOption::NonceIndices { home, care_of })
        .expect("room for two options");
    options
        .push(MhOption::AuthData([0; 12]))
        .expect("room for two options");
    options
}

/// A Binding Update from a care-of address about a home address, to a correspondent
/// node: `BuBuilder::new(hoa, coa, cn).seq(5).lifetime(100).ack(true).nonces(1, 2)
/// .signed(&kbm)`.
#[derive(Debug, Clone)]
pub struct BuBuilder {
    hoa: Ipv6Addr,
    coa: Ipv6Addr,
    cn: Ipv6Addr,
    bu: BindingUpdate,
    nonces: Option<(u16, u16)>,
    alt_coa: Option<Ipv6Addr>,
    auth: Option<[u8; 12]>,
}

impl BuBuilder {
    /// A BU with every field 0 and no options, from `coa` with a HAO holding `hoa`
    /// (without one when `coa` is `hoa`, as from home), to `cn`.
    pub fn new(hoa: Ipv6Addr, coa: Ipv6Addr, cn: Ipv6Addr) -> Self {
        BuBuilder {
            hoa,
            coa,
            cn,
            bu: BindingUpdate::default(),
            nonces: None,
            alt_coa: None,
            auth: None,
        }
    }

    /// The sequence number.
    pub fn seq(mut self, seq: u16) -> Self {
        self.bu.seq = seq;
        self
    }

    /// The lifetime, in units of 4 s.
    pub fn lifetime(mut self, lifetime: u16) -> Self {
        self.bu.lifetime = lifetime;
        self
    }

    /// The Acknowledge (A) flag.
    pub fn ack(mut self, ack: bool) -> Self {
        self.bu.ack = ack;
        self
    }

    /// The Home Registration (H) flag.
    pub fn home_registration(mut self) -> Self {
        self.bu.home = true;
        self
    }

    /// A Nonce Indices option.
    pub fn nonces(mut self, home: u16, care_of: u16) -> Self {
        self.nonces = Some((home, care_of));
        self
    }

    /// An Alternate Care-of Address option (after the Nonce Indices).
    pub fn alt_coa(mut self, alt: Ipv6Addr) -> Self {
        self.alt_coa = Some(alt);
        self
    }

    /// A Binding Authorization Data option holding `data`, last.
    pub fn auth_data(mut self, data: [u8; 12]) -> Self {
        self.auth = Some(data);
        self
    }

    /// The packet as a repr.
    pub fn repr(&self) -> PacketRepr<'static> {
        let mut options = MhOptions::new();
        if let Some((home, care_of)) = self.nonces {
            options
                .push(MhOption::NonceIndices { home, care_of })
                .expect("room for three options");
        }
        if let Some(alt) = self.alt_coa {
            options
                .push(MhOption::AltCareOf(alt))
                .expect("room for three options");
        }
        if let Some(data) = self.auth {
            options
                .push(MhOption::AuthData(data))
                .expect("room for three options");
        }
        let mut p = PacketRepr::new(
            self.coa,
            self.cn,
            Upper::Mh(MhRepr {
                message: MhMessage::Bu(self.bu),
                options,
            }),
        );
        p.hao = (self.coa != self.hoa).then_some(self.hoa);
        p
    }

    /// The packet as it is (an authenticator, if any, as given).
    pub fn build(&self) -> Vec<u8> {
        emit(&self.repr())
    }

    /// The packet with its authenticator computed with `kbm` (a Binding Authorization
    /// Data option is added if there is none).
    pub fn signed(&self, kbm: &Kbm) -> Vec<u8> {
        let mut b = self.clone();
        b.auth.get_or_insert([0; 12]);
        let repr = b.repr();
        let mut buf = vec![0; repr.buffer_len()];
        let n = rr::emit_signed(&repr, kbm, &mut buf).expect("a BU with auth data signs");
        buf.truncate(n);
        buf
    }
}

/// A TCP segment: `TcpSegment::new(40000, 80).seq(1000).ack(5001).control(TcpControl::Psh)
/// .payload(b"data").packet(src, dst)`.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    repr: TcpRepr<'a>,
}

impl<'a> TcpSegment<'a> {
    /// From `src_port` to `dst_port`: no flags, sequence number 0, no ACK, window 1000,
    /// no options, no payload.
    pub fn new(src_port: u16, dst_port: u16) -> Self {
        TcpSegment {
            repr: TcpRepr {
                src_port,
                dst_port,
                control: TcpControl::None,
                seq_number: TcpSeqNumber(0),
                ack_number: None,
                window_len: 1000,
                window_scale: None,
                max_seg_size: None,
                sack_permitted: false,
                sack_ranges: [None; 3],
                timestamp: None,
                payload: &[],
            },
        }
    }

    /// The sequence number.
    pub fn seq(mut self, seq: u32) -> Self {
        self.repr.seq_number = TcpSeqNumber(seq as i32);
        self
    }

    /// The ACK flag and acknowledgement number.
    pub fn ack(mut self, ack: u32) -> Self {
        self.repr.ack_number = Some(TcpSeqNumber(ack as i32));
        self
    }

    /// SYN, FIN, RST or PSH.
    pub fn control(mut self, control: TcpControl) -> Self {
        self.repr.control = control;
        self
    }

    /// The window field (before scaling).
    pub fn window(mut self, window: u16) -> Self {
        self.repr.window_len = window;
        self
    }

    /// An MSS option.
    pub fn mss(mut self, mss: u16) -> Self {
        self.repr.max_seg_size = Some(mss);
        self
    }

    /// A Window Scale option.
    pub fn window_scale(mut self, shift: u8) -> Self {
        self.repr.window_scale = Some(shift);
        self
    }

    /// A SACK-Permitted option.
    pub fn sack_permitted(mut self) -> Self {
        self.repr.sack_permitted = true;
        self
    }

    /// A Timestamps option.
    pub fn timestamp(mut self, tsval: u32, tsecr: u32) -> Self {
        self.repr.timestamp = Some(TcpTimestampRepr::new(tsval, tsecr));
        self
    }

    /// The payload.
    pub fn payload(mut self, payload: &'a [u8]) -> Self {
        self.repr.payload = payload;
        self
    }

    /// The segment as a repr.
    pub fn repr(&self) -> TcpRepr<'a> {
        self.repr
    }

    /// The segment in an IPv6 packet from `src` to `dst` ([`PacketRepr::new`]).
    pub fn packet(&self, src: Ipv6Addr, dst: Ipv6Addr) -> PacketRepr<'a> {
        PacketRepr::new(src, dst, Upper::Tcp(self.repr))
    }
}
