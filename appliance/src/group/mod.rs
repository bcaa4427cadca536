//! The anycast group: members and contact nodes ([`member`]), the authenticated peer
//! protocol between them ([`peer`]), the policies that decide handoffs ([`policy`]), and
//! which core of a multi-core node owns a client ([`shard`]).

pub mod cookie;
pub mod member;
pub mod peer;
pub mod policy;
pub mod shard;
