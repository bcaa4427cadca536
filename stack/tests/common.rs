//! Proptest strategies shared by the wire tests: owned specs from which borrowed `Repr`s
//! are built.

#![allow(dead_code, missing_docs)]

use std::net::Ipv6Addr;

use proptest::prelude::*;
use vany_stack::wire::{BindingAck, BindingUpdate, MhMessage, MhOption, MhOptions, MhRepr};

/// An owned description of an MH message.
#[derive(Debug, Clone)]
pub enum MsgSpec {
    Brr,
    Hoti([u8; 8]),
    Coti([u8; 8]),
    Hot(u16, [u8; 8], [u8; 8]),
    Cot(u16, [u8; 8], [u8; 8]),
    Bu(BindingUpdate),
    Ba(BindingAck),
    Be(u8, Ipv6Addr),
    Unknown(u8, Vec<u8>),
}

/// An owned description of a mobility option.
#[derive(Debug, Clone)]
pub enum OptSpec {
    Refresh(u16),
    AltCoa(Ipv6Addr),
    Nonce(u16, u16),
    Unknown(u8, Vec<u8>),
}

/// An owned MH: message, options, optional trailing Binding Authorization Data.
#[derive(Debug, Clone)]
pub struct MhSpec {
    pub msg: MsgSpec,
    pub options: Vec<OptSpec>,
    pub auth: Option<[u8; 12]>,
}

pub fn any_addr() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

/// A unicast address (valid as a home address).
pub fn unicast_addr() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 15]>().prop_map(|rest| {
        let mut o = [0u8; 16];
        o[0] = 0xfd;
        o[1..].copy_from_slice(&rest);
        Ipv6Addr::from(o)
    })
}

pub fn bu_strategy() -> impl Strategy<Value = BindingUpdate> {
    (any::<u16>(), any::<[bool; 4]>(), 0u16..0x1000, any::<u16>()).prop_map(
        |(seq, f, reserved, lifetime)| BindingUpdate {
            seq,
            ack: f[0],
            home: f[1],
            link_local: f[2],
            key_mgmt: f[3],
            reserved,
            lifetime,
        },
    )
}

pub fn ba_strategy() -> impl Strategy<Value = BindingAck> {
    (
        any::<u8>(),
        any::<bool>(),
        0u8..0x80,
        any::<u16>(),
        any::<u16>(),
    )
        .prop_map(|(status, key_mgmt, reserved, seq, lifetime)| BindingAck {
            status,
            key_mgmt,
            reserved,
            seq,
            lifetime,
        })
}

pub fn msg_strategy() -> impl Strategy<Value = MsgSpec> {
    prop_oneof![
        Just(MsgSpec::Brr),
        any::<[u8; 8]>().prop_map(MsgSpec::Hoti),
        any::<[u8; 8]>().prop_map(MsgSpec::Coti),
        (any::<u16>(), any::<[u8; 8]>(), any::<[u8; 8]>())
            .prop_map(|(i, c, t)| MsgSpec::Hot(i, c, t)),
        (any::<u16>(), any::<[u8; 8]>(), any::<[u8; 8]>())
            .prop_map(|(i, c, t)| MsgSpec::Cot(i, c, t)),
        bu_strategy().prop_map(MsgSpec::Bu),
        ba_strategy().prop_map(MsgSpec::Ba),
        (any::<u8>(), any_addr()).prop_map(|(s, a)| MsgSpec::Be(s, a)),
        // Unknown types: body padded so that the MH is a multiple of 8 octets.
        (8u8..=255, 0usize..4).prop_flat_map(|(t, units)| {
            proptest::collection::vec(any::<u8>(), 2 + 8 * units)
                .prop_map(move |b| MsgSpec::Unknown(t, b))
        }),
    ]
}

pub fn opt_strategy() -> impl Strategy<Value = OptSpec> {
    prop_oneof![
        any::<u16>().prop_map(OptSpec::Refresh),
        any_addr().prop_map(OptSpec::AltCoa),
        (any::<u16>(), any::<u16>()).prop_map(|(h, c)| OptSpec::Nonce(h, c)),
        (6u8..=255, proptest::collection::vec(any::<u8>(), 0..24))
            .prop_map(|(k, d)| OptSpec::Unknown(k, d)),
    ]
}

pub fn mh_strategy() -> impl Strategy<Value = MhSpec> {
    (
        msg_strategy(),
        proptest::collection::vec(opt_strategy(), 0..6),
        proptest::option::of(any::<[u8; 12]>()),
    )
        .prop_map(|(msg, options, auth)| {
            let unknown = matches!(msg, MsgSpec::Unknown(..));
            MhSpec {
                msg,
                options: if unknown { vec![] } else { options },
                auth: if unknown { None } else { auth },
            }
        })
}

impl MhSpec {
    /// The borrowed repr this spec describes.
    pub fn repr(&self) -> MhRepr<'_> {
        let message = match &self.msg {
            MsgSpec::Brr => MhMessage::Brr,
            MsgSpec::Hoti(c) => MhMessage::Hoti { cookie: *c },
            MsgSpec::Coti(c) => MhMessage::Coti { cookie: *c },
            MsgSpec::Hot(i, c, t) => MhMessage::Hot {
                nonce_index: *i,
                cookie: *c,
                token: *t,
            },
            MsgSpec::Cot(i, c, t) => MhMessage::Cot {
                nonce_index: *i,
                cookie: *c,
                token: *t,
            },
            MsgSpec::Bu(bu) => MhMessage::Bu(*bu),
            MsgSpec::Ba(ba) => MhMessage::Ba(*ba),
            MsgSpec::Be(s, a) => MhMessage::Be {
                status: *s,
                home_address: *a,
            },
            MsgSpec::Unknown(t, b) => MhMessage::Unknown {
                mh_type: *t,
                body: b,
            },
        };
        let mut options = MhOptions::new();
        for o in &self.options {
            let option = match o {
                OptSpec::Refresh(i) => MhOption::RefreshAdvice { interval: *i },
                OptSpec::AltCoa(a) => MhOption::AltCareOf(*a),
                OptSpec::Nonce(h, c) => MhOption::NonceIndices {
                    home: *h,
                    care_of: *c,
                },
                OptSpec::Unknown(k, d) => MhOption::Unknown { kind: *k, data: d },
            };
            options.push(option).expect("fewer than MAX_OPTIONS");
        }
        if let Some(a) = self.auth {
            options
                .push(MhOption::AuthData(a))
                .expect("fewer than MAX_OPTIONS");
        }
        MhRepr { message, options }
    }
}
