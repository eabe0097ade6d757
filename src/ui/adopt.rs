//! The adopt keys: `n` adds an unlisted push sender to the fleet file as a
//! `[[node]]`, `N` adds all of them, each after a `y`. Pure (the question and
//! its keys); the dashboard loop writes the file off the loop and reloads.
//!
//! In a sharded fleet every push node needs `shard = K`. A sender pushes to
//! the instance that heard it, so the nodes are pinned to this instance's shard.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};

use crate::config::append::{self, NewNode};
use crate::model::Shard;
use crate::protocol::{ReportedIp, Role};
use crate::state::{Snapshot, UnlistedSender};
use crate::ui::Action;

/// One unlisted sender as the question shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The IP it writes, or its peer address when it writes `unknown`.
    pub ip: IpAddr,
    pub unknown: bool,
    pub peer: SocketAddr,
    pub code: Option<u8>,
}

impl Candidate {
    fn of(u: &UnlistedSender) -> Candidate {
        let (ip, unknown) = match u.reported_ip {
            ReportedIp::V4(ip) => (IpAddr::V4(ip), false),
            ReportedIp::Unknown => (u.peer.ip().to_canonical(), true),
        };
        Candidate {
            ip,
            unknown,
            peer: u.peer,
            code: u.code,
        }
    }

    /// The node it becomes: named from its IP (no DNS here: the keys never wait
    /// on the network), pinned to `shard` (this instance's, when sharded), a
    /// comment saying where it came from.
    pub fn node(&self, shard: Option<Shard>) -> NewNode {
        let last = match self.code {
            Some(c) => format!("state{c} ({})", Role::from_code(c)),
            None => "no valid line yet".to_owned(),
        };
        let unknown = if self.unknown {
            "; it writes `unknown` for its IP, so host is its peer address"
        } else {
            ""
        };
        NewNode {
            name: append::ip_name(self.ip),
            host: self.ip,
            group: None,
            shard: shard.map(|s| s.index),
            comment: Some(format!(
                "added from the dashboard: last {last} from {}{unknown}",
                self.peer
            )),
        }
    }
}

/// `n` / `N`: "add this sender (these senders) to the fleet file?"
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdoptPrompt {
    /// The unlisted senders, newest first (the order of the strip), when asked.
    pub senders: Vec<Candidate>,
    /// The one to add (`n`; ↑↓ choose another), or `None` for all of them (`N`).
    pub chosen: Option<usize>,
    /// This instance's shard (of the config in force), when sharded: the
    /// senders push here, so their nodes are pinned to it.
    pub shard: Option<Shard>,
}

impl AdoptPrompt {
    /// The question for `n` (the newest sender) or `N` (all), or why there is none.
    pub fn ask(snap: &Snapshot, all: bool, config: Option<&Path>) -> Result<AdoptPrompt, String> {
        if config.is_none() {
            return Err(
                "the demo's fleet is built in: there is no fleet file to add nodes to".to_owned(),
            );
        }
        let senders = newest(snap);
        if senders.is_empty() {
            return Err("no unlisted senders to add".to_owned());
        }
        Ok(AdoptPrompt {
            senders,
            chosen: (!all).then_some(0),
            shard: snap.shard,
        })
    }

    /// ↑ (`up`) or ↓: the next sender to add, when adding one.
    pub fn step(&mut self, up: bool) {
        if let Some(i) = self.chosen.as_mut() {
            let last = self.senders.len().saturating_sub(1);
            *i = if up {
                i.saturating_sub(1)
            } else {
                (*i + 1).min(last)
            };
        }
    }

    /// The nodes `y` adds.
    pub fn nodes(&self) -> Vec<NewNode> {
        let node = |c: &Candidate| c.node(self.shard);
        match self.chosen {
            Some(i) => self.senders.get(i).map(node).into_iter().collect(),
            None => self.senders.iter().map(node).collect(),
        }
    }

    /// The sender to highlight in the strip, when adding one.
    pub fn highlighted(&self) -> Option<IpAddr> {
        self.chosen.and_then(|i| self.senders.get(i)).map(|c| c.ip)
    }
}

/// The unlisted senders, newest first, as the strip lists them.
pub fn newest(snap: &Snapshot) -> Vec<Candidate> {
    let mut v: Vec<&UnlistedSender> = snap.unlisted.iter().collect();
    v.sort_by_key(|u| std::cmp::Reverse(u.last_seen));
    let mut seen = std::collections::HashSet::new();
    v.into_iter()
        .map(Candidate::of)
        // Two `unknown` senders behind one address are one node.
        .filter(|c| seen.insert(c.ip))
        .collect()
}

/// Keys while "add to the fleet file?" is asked: `y` adds, ↑↓ (k/j) choose
/// another sender, Ctrl-C quits, any other key adds nothing.
pub fn key_to_action(key: KeyEvent) -> Option<Action> {
    match key.code {
        _ if key.kind == KeyEventKind::Release => None,
        KeyCode::Up | KeyCode::Char('k') => Some(Action::Up),
        KeyCode::Down | KeyCode::Char('j') => Some(Action::Down),
        // The rest as for any yes/no question.
        _ => crate::ui::view::confirm_key_to_action(key),
    }
}

/// The footer's line for a finished adopt: how many were added to which file,
/// and how the reload went.
pub fn outcome(
    added: usize,
    already: usize,
    file: &str,
    reload: Result<&str, &str>,
) -> (bool, String) {
    if added == 0 {
        let why = if already > 0 {
            "already listed"
        } else {
            "no sender chosen"
        };
        return (true, format!("nothing added to {file}: {why}"));
    }
    let nodes = if added == 1 { "node" } else { "nodes" };
    match reload {
        Ok(_) => (true, format!("added {added} {nodes} to {file}; reloaded")),
        Err(e) => (
            false,
            format!("added {added} {nodes} to {file}, but the reload failed: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;
    use crossterm::event::KeyModifiers;
    use std::time::{Duration, SystemTime};

    fn snap_with(unlisted: &[(&str, &str, u64)]) -> Snapshot {
        let mut s = Snapshot::empty(SystemTime::UNIX_EPOCH);
        for (ip, peer, secs) in unlisted {
            s.unlisted.push(UnlistedSender {
                reported_ip: if *ip == "unknown" {
                    ReportedIp::Unknown
                } else {
                    ReportedIp::V4(ip.parse().expect("ip"))
                },
                peer: peer.parse().expect("peer"),
                status: Status::Synced,
                code: Some(1),
                last_seen: SystemTime::UNIX_EPOCH + Duration::from_secs(*secs),
                lines: 3,
            });
        }
        s
    }

    #[test]
    fn one_sender_is_the_newest_and_arrows_choose_another() {
        let snap = snap_with(&[
            ("10.0.0.1", "10.0.0.1:5000", 5),
            ("10.0.0.2", "10.0.0.2:5000", 9),
            ("unknown", "10.0.0.3:5000", 7),
        ]);
        let path = Path::new("fleet.toml");
        let mut p = AdoptPrompt::ask(&snap, false, Some(path)).expect("asked");
        assert_eq!(p.highlighted(), Some("10.0.0.2".parse().expect("ip")));
        p.step(false);
        let n = p.nodes();
        assert_eq!(n.len(), 1);
        assert_eq!(
            (n[0].name.as_str(), n[0].host.to_string()),
            ("node-10-0-0-3", "10.0.0.3".into())
        );
        assert!(
            n[0].comment
                .as_deref()
                .is_some_and(|c| c.contains("writes `unknown`"))
        );
        p.step(false);
        p.step(false);
        assert_eq!(
            p.highlighted(),
            Some("10.0.0.1".parse().expect("ip")),
            "stops at the last"
        );
        p.step(true);
        p.step(true);
        p.step(true);
        assert_eq!(p.highlighted(), Some("10.0.0.2".parse().expect("ip")));
        let all = AdoptPrompt::ask(&snap, true, Some(path)).expect("asked");
        assert_eq!(all.nodes().len(), 3);
        assert_eq!(all.highlighted(), None);
        assert!(all.nodes().iter().all(|n| n.shard.is_none()), "not sharded");
    }

    #[test]
    fn a_sharded_instance_pins_adopted_nodes_to_its_shard() {
        let mut snap = snap_with(&[
            ("10.0.0.1", "10.0.0.1:5000", 5),
            ("10.0.0.2", "10.0.0.2:5000", 9),
        ]);
        snap.shard = Some(Shard::new(3, 4).expect("shard"));
        let path = Path::new("fleet.toml");
        let all = AdoptPrompt::ask(&snap, true, Some(path)).expect("asked");
        let pins: Vec<Option<u32>> = all.nodes().iter().map(|n| n.shard).collect();
        assert_eq!(pins, [Some(3), Some(3)]);
        let one = AdoptPrompt::ask(&snap, false, Some(path)).expect("asked");
        assert_eq!(one.nodes()[0].shard, Some(3));
        // And what the dashboard then writes loads in that instance.
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("fleet.toml");
        let text = "[shard]\nindex = 3\ncount = 4\n\n[[node]]\nname = \"w\"\nhost = \"10.0.1.1\"\nshard = 3\n";
        std::fs::write(&file, text).expect("write");
        let done = append::append_to_file(&file, &all.nodes(), snap.shard).expect("added");
        assert_eq!(done.added.len(), 2);
        let cfg = crate::config::Config::load(&file).expect("loads");
        let mine = crate::config::Selection::default()
            .apply(cfg)
            .expect("shard 3 takes the file");
        assert_eq!(mine.nodes.len(), 3);
    }

    #[test]
    fn demo_and_empty_strip_say_why_not() {
        let snap = snap_with(&[("10.0.0.1", "10.0.0.1:5000", 5)]);
        let e = AdoptPrompt::ask(&snap, false, None).expect_err("demo");
        assert!(e.contains("demo"), "{e}");
        let e =
            AdoptPrompt::ask(&snap_with(&[]), true, Some(Path::new("f.toml"))).expect_err("empty");
        assert_eq!(e, "no unlisted senders to add");
    }

    #[test]
    fn keys_of_the_question() {
        use KeyCode::*;
        let k = |c| KeyEvent::new(c, KeyModifiers::NONE);
        assert_eq!(key_to_action(k(Char('y'))), Some(Action::Confirm));
        assert_eq!(key_to_action(k(Down)), Some(Action::Down));
        assert_eq!(key_to_action(k(Char('k'))), Some(Action::Up));
        assert_eq!(key_to_action(k(Char('n'))), Some(Action::Back));
        assert_eq!(key_to_action(k(Esc)), Some(Action::Back));
        let ctrl_c = KeyEvent::new(Char('c'), KeyModifiers::CONTROL);
        assert_eq!(key_to_action(ctrl_c), Some(Action::Quit));
    }

    #[test]
    fn the_footer_says_what_was_done() {
        assert_eq!(
            outcome(3, 0, "fleet.toml", Ok("reloaded")),
            (true, "added 3 nodes to fleet.toml; reloaded".into())
        );
        assert_eq!(
            outcome(0, 1, "fleet.toml", Ok("")),
            (true, "nothing added to fleet.toml: already listed".into())
        );
        let (good, text) = outcome(1, 0, "f.toml", Err("bad"));
        assert!(!good);
        assert_eq!(text, "added 1 node to f.toml, but the reload failed: bad");
    }
}
