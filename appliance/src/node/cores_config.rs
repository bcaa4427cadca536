//! Nodes with several cores (`[io] cores = N`): each core runs a group member of its own,
//! listed in `[members]` with `core_of = <the node's member id>` (see docs/cores.md).
//!
//! ```toml
//! id = 3
//! [io]
//! backend = "dpdk"
//! cores = 2
//! [members.3]
//! care_of = "fd00:20:3::1"
//! [members.4]
//! care_of = "fd00:20:4::1"
//! core_of = 3          # node 3's second core: its own care-of address, no gossip key
//! ```

use std::collections::BTreeMap;

use crate::group::peer::MemberId;

use super::config::{invalid, ConfigError, MemberEntry, NodeConfig};
use super::io_config::IoBackend;

/// Most cores (poll loops) one node runs.
pub const MAX_CORES: usize = 64;

/// Checks that core member `key` (it has `core_of`) gives no key its node's member
/// decides for it: `gossip` or `contact`.
pub(super) fn check_core_member(key: &str, gossip: bool, contact: bool) -> Result<(), ConfigError> {
    for (given, name) in [(gossip, "gossip"), (contact, "contact")] {
        if given {
            return Err(invalid(
                format!("members.{key}.{name}"),
                "a core member (core_of) shares its node's; remove this key",
            ));
        }
    }
    Ok(())
}

/// Checks every `core_of` (it names a member that is no core itself) and gives each core
/// member the contact role of its node's member.
pub(super) fn resolve_cores(
    members: &mut BTreeMap<MemberId, MemberEntry>,
) -> Result<(), ConfigError> {
    let heads: Vec<(MemberId, MemberId)> = members
        .iter()
        .filter_map(|(id, m)| m.core_of.map(|h| (*id, h)))
        .collect();
    for (id, head) in heads {
        let key = format!("members.{id}.core_of");
        let contact = match members.get(&head) {
            None => return Err(invalid(key, format!("no member {head} in [members]"))),
            Some(_) if head == id => {
                return Err(invalid(
                    key,
                    "names the member itself; name its node's member",
                ))
            }
            Some(h) => match h.core_of {
                Some(up) => {
                    return Err(invalid(
                        key,
                        format!(
                            "member {head} is itself a core of member {up}; name the node's \
                             own member ({up})"
                        ),
                    ))
                }
                None => h.contact,
            },
        };
        if let Some(m) = members.get_mut(&id) {
            m.contact = contact;
        }
    }
    Ok(())
}

/// Checks that this node (`cfg.id`) has as many core members as `[io] cores` says.
pub(super) fn check_cores(cfg: &NodeConfig) -> Result<(), ConfigError> {
    if let Some(head) = cfg.me().core_of {
        return Err(invalid(
            "id",
            format!(
                "member {} is a core of member {head}: start the node as member {head} (its \
                 configuration's `id`), which runs this one too",
                cfg.id
            ),
        ));
    }
    let cores = cfg.core_members();
    let extra: Vec<String> = cores[1..].iter().map(u16::to_string).collect();
    match &cfg.io {
        IoBackend::Tun if cores.len() > 1 => Err(invalid(
            "io.backend",
            format!(
                "member(s) {} have core_of = {}: they run as further cores of this node, \
                 which needs the DPDK backend (`[io] backend = \"dpdk\"`, cores = {}); a TUN \
                 node runs one core",
                extra.join(", "),
                cfg.id,
                cores.len()
            ),
        )),
        IoBackend::Dpdk(d) if d.cores != cores.len() => Err(invalid(
            "io.cores",
            format!(
                "{} core(s), but this node has {} member(s): its own ({}){}; a node with N \
                 cores runs N members: give N - 1 further members `core_of = {}`, each with \
                 its own care-of address",
                d.cores,
                cores.len(),
                cfg.id,
                if extra.is_empty() {
                    String::new()
                } else {
                    format!(" and core_of = {}: {}", cfg.id, extra.join(", "))
                },
                cfg.id
            ),
        )),
        _ => Ok(()),
    }
}

impl NodeConfig {
    /// The members this node runs, one per core: its own first, then those with
    /// `core_of` = its id, by id. Core `k` runs `core_members()[k]`.
    pub fn core_members(&self) -> Vec<MemberId> {
        let mut ids = vec![self.id];
        ids.extend(
            self.members
                .iter()
                .filter(|(_, m)| m.core_of == Some(self.id))
                .map(|(id, _)| *id),
        );
        ids
    }

    /// The configuration core member `member` runs with (this one, as that member).
    pub fn for_core(&self, member: MemberId) -> NodeConfig {
        NodeConfig {
            id: member,
            ..self.clone()
        }
    }

    /// The members running on the same node as `id` (its node's member and its cores),
    /// `id` included; just `id` for a member without cores.
    pub fn node_of(&self, id: MemberId) -> Vec<MemberId> {
        let head = self.members.get(&id).and_then(|m| m.core_of).unwrap_or(id);
        let mut ids = vec![head];
        ids.extend(
            self.members
                .iter()
                .filter(|(_, m)| m.core_of == Some(head))
                .map(|(id, _)| *id),
        );
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Node 3 on DPDK with `cores`, and `extra` appended to the members.
    fn node3(cores: usize, extra: &str) -> Result<NodeConfig, ConfigError> {
        NodeConfig::parse(&node3_text(3, cores, extra))
    }

    /// Node 3's configuration (`cores`, `extra` members), started as member `id`.
    fn node3_text(id: u16, cores: usize, extra: &str) -> String {
        format!(
            r#"
id = {id}
anycast = "fd00:aa::1"
contact_node = 1
group_key = "00112233445566778899aabbccddeeff"
[io]
backend = "dpdk"
eal = ["--no-huge"]
port = "net_null0"
gateway = "fd00:99:3::1"
cores = {cores}
[gossip]
listen = "[fd00:99:3::2]:4700"
[members.1]
care_of = "fd00:20:1::1"
contact = true
gossip = "[fd00:99:1::2]:4700"
[members.3]
care_of = "fd00:20:3::1"
gossip = "[fd00:99:3::2]:4700"
{extra}
"#
        )
    }

    const CORE4: &str = "[members.4]\ncare_of = \"fd00:20:4::1\"\ncore_of = 3\n";
    const CORE5: &str = "[members.5]\ncare_of = \"fd00:20:5::1\"\ncore_of = 3\n";

    #[test]
    fn core_members_run_on_their_node_in_id_order() {
        let c = node3(3, &format!("{CORE5}{CORE4}")).unwrap();
        assert_eq!(c.core_members(), vec![3, 4, 5]);
        assert_eq!(c.node_of(5), vec![3, 4, 5]);
        assert_eq!(c.node_of(1), vec![1]);
        let four = c.for_core(4);
        assert_eq!(
            (four.id, four.me().care_of),
            (4, "fd00:20:4::1".parse().unwrap())
        );
        assert!(
            four.me().gossip.is_none(),
            "a core has no gossip socket of its own"
        );
        assert_eq!(c.members[&4].core_of, Some(3));
        assert_eq!(node3(1, "").unwrap().core_members(), vec![3]);
    }

    #[test]
    fn a_core_member_takes_its_nodes_contact_role() {
        let c = node3(1, "").unwrap();
        assert!(!c.members[&3].contact);
        let text = "[members.2]\ncare_of = \"fd00:20:2::1\"\ncore_of = 1\n";
        let c = node3(1, text).unwrap();
        assert!(
            c.members[&2].contact,
            "member 1 is a contact node, so is its core"
        );
    }

    #[test]
    fn wrong_core_setups_are_refused_naming_the_key() {
        let cases = [
            (
                node3(1, CORE4),
                "io.cores: 1 core(s), but this node has 2 member(s)",
            ),
            (
                node3(2, ""),
                "io.cores: 2 core(s), but this node has 1 member(s)",
            ),
            (
                node3(2, &CORE4.replace("core_of = 3", "core_of = 9")),
                "members.4.core_of: no member 9",
            ),
            (
                node3(2, &CORE4.replace("core_of = 3", "core_of = 4")),
                "members.4.core_of: names the member itself",
            ),
            (
                node3(
                    3,
                    &format!("{CORE4}{}", CORE5.replace("core_of = 3", "core_of = 4")),
                ),
                "members.5.core_of: member 4 is itself a core of member 3",
            ),
            (
                node3(2, &format!("{CORE4}contact = true\n")),
                "members.4.contact: a core member",
            ),
            (
                node3(2, &format!("{CORE4}gossip = \"[fd00:99:3::2]:4701\"\n")),
                "members.4.gossip: a core member",
            ),
        ];
        for (got, want) in cases {
            let e = got.expect_err(want).to_string();
            assert!(e.starts_with(want), "want {want:?}, got {e:?}");
        }
        assert!(node3(2, CORE4).is_ok());
        let e = NodeConfig::parse(&node3_text(4, 2, CORE4))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("id: member 4 is a core of member 3"), "{e}");
    }

    #[test]
    fn cores_need_the_dpdk_backend() {
        let text = r#"
id = 1
tun = "vtun"
anycast = "fd00:aa::1"
contact_node = 1
group_key = "00112233445566778899aabbccddeeff"
[members.1]
care_of = "fd00:20:1::1"
contact = true
[members.2]
care_of = "fd00:20:2::1"
core_of = 1
"#;
        let e = NodeConfig::parse(text).unwrap_err().to_string();
        assert!(
            e.starts_with("io.backend: member(s) 2 have core_of = 1"),
            "{e}"
        );
    }
}
