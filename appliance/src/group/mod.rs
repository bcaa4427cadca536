//! The anycast group: members and contact nodes ([`member`]), the authenticated peer
//! protocol between them ([`peer`]), and the policies that decide handoffs ([`policy`]).

pub mod cookie;
pub mod member;
pub mod peer;
pub mod policy;
