//! Adding push nodes to a fleet file without disturbing it: `discover --append`
//! and the dashboard's adopt keys.
//!
//! The file is read with `toml_edit`, which keeps comments, blank lines and key
//! order, and the new nodes go at its very end as `[[node]]` tables written by
//! `toml_edit` too. Nothing else in the file is touched. The result is checked the
//! way the monitor will read it (`Config::load`, then the shard's selection when
//! the fleet is sharded) before it replaces the file, and it replaces it by a
//! rename, so a reader sees the old file or the new one, never half of one. The
//! rename happens in the directory of the real file (a symlink is followed, not
//! replaced), and the new file gets the old one's mode, owner and group.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};

use super::{Config, Mode, Selection};
use crate::model::Shard;

/// A push node to add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNode {
    /// Unique among the file's nodes (see [`Known::claim`]).
    pub name: String,
    /// The IP the node writes in its lines (or its peer address when it writes
    /// `unknown`).
    pub host: IpAddr,
    pub group: Option<String>,
    /// `shard = K`: the instance the node pushes to, in a sharded fleet (every
    /// push node needs one there).
    pub shard: Option<u32>,
    /// One line of context written above the table (what was heard, from where).
    pub comment: Option<String>,
}

/// Names and push IPs a fleet file already has, so new nodes get names of their
/// own and senders already listed are left out.
#[derive(Clone, Debug, Default)]
pub struct Known {
    pub names: HashSet<String>,
    /// Canonical form: an IPv4-mapped IPv6 address is its IPv4 address.
    pub push_ips: HashSet<IpAddr>,
    /// Some node has a `shard = K` key: the fleet is meant to be split, even if
    /// this file has no `[shard]`.
    pub pinned: bool,
}

impl Known {
    /// What a loaded config has: every node, ranges and `nodes_file` rows expanded.
    pub fn of_config(config: &Config) -> Known {
        Known {
            names: config.nodes.iter().map(|n| n.name.clone()).collect(),
            push_ips: config.push_directory().into_keys().collect(),
            pinned: config.nodes.iter().any(|n| n.shard.is_some()),
        }
    }

    /// What the `[[node]]` tables of a TOML text have, for a file that does not
    /// load as a config (yet): one with no node at all, say.
    pub fn of_text(text: &str) -> Result<Known, String> {
        let doc = parse(text)?;
        let mut known = Known::default();
        for t in node_tables(&doc) {
            if let Some(name) = t.get("name").and_then(Item::as_str) {
                known.names.insert(name.to_owned());
            }
            known.pinned |= t.contains_key("shard");
            let push = t.get("mode").and_then(Item::as_str) == Some(Mode::Push.as_str());
            if let Some(ip) = t
                .get("host")
                .and_then(Item::as_str)
                .and_then(|h| h.parse::<IpAddr>().ok())
                && push
            {
                known.push_ips.insert(ip.to_canonical());
            }
        }
        Ok(known)
    }

    /// Whether a push node for this IP is listed.
    pub fn has_ip(&self, ip: IpAddr) -> bool {
        self.push_ips.contains(&ip.to_canonical())
    }

    /// `base`, or `base-2`, `base-3`… whichever is free first; claimed, so the
    /// next call gets another.
    pub fn claim(&mut self, base: &str) -> String {
        let mut name = base.to_owned();
        // Bounded: at most `names.len()` names can be taken.
        for k in 2..self.names.len() + 3 {
            if !self.names.contains(&name) {
                break;
            }
            name = format!("{base}-{k}");
        }
        self.names.insert(name.clone());
        name
    }

    /// Claims the IP too, so a second sender with it is not added twice.
    pub fn claim_ip(&mut self, ip: IpAddr) -> bool {
        self.push_ips.insert(ip.to_canonical())
    }
}

/// The `[shard]` of a TOML text, for a file that does not load as a config (yet):
/// `None` when there is none or it is not a valid one (loading says why).
pub fn shard_of_text(text: &str) -> Option<Shard> {
    let doc = parse(text).ok()?;
    let t = doc.get("shard")?.as_table_like()?;
    let num = |k: &str| {
        t.get(k)
            .and_then(Item::as_integer)
            .and_then(|v| u32::try_from(v).ok())
    };
    Shard::new(num("index")?, num("count")?).ok()
}

/// A node name from its IP: `node-192-168-0-201`; IPv6 `fd00::1` is `node-fd00--1`.
pub fn ip_name(ip: IpAddr) -> String {
    let text = ip.to_canonical().to_string();
    format!("node-{}", text.replace(['.', ':'], "-"))
}

/// A node name from a reverse DNS name: its first label (`render-01` of
/// `render-01.stage.example`), lowercased, keeping letters, digits, `-` and `_`.
/// `None` when nothing usable is left.
pub fn dns_name(fqdn: &str) -> Option<String> {
    let label = fqdn.trim().trim_end_matches('.').split('.').next()?;
    let name: String = label
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let name = name.trim_matches('-').to_owned();
    // A label that is all digits is an address piece, not a name.
    (!name.is_empty() && !name.chars().all(|c| c.is_ascii_digit())).then_some(name)
}

fn parse(text: &str) -> Result<DocumentMut, String> {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .parse::<DocumentMut>()
        .map_err(|e| format!("not valid TOML: {}", e.to_string().trim_end()))
}

/// The `[[node]]` tables written out in the file (not ranges or rows of a
/// `nodes_file`: [`Known::of_config`] has those).
fn node_tables(doc: &DocumentMut) -> impl Iterator<Item = &Table> {
    doc.get("node")
        .and_then(Item::as_array_of_tables)
        .into_iter()
        .flat_map(|a| a.iter())
}

/// The TOML of `nodes` alone, one `[[node]]` table each with its comment above:
/// what `discover` prints, and what [`append_push_nodes`] adds.
pub fn render_nodes(nodes: &[NewNode]) -> String {
    let mut tables = ArrayOfTables::new();
    for n in nodes {
        let mut t = Table::new();
        t["name"] = value(n.name.as_str());
        t["host"] = value(n.host.to_canonical().to_string());
        t["mode"] = value(Mode::Push.as_str());
        if let Some(g) = &n.group {
            t["group"] = value(g.as_str());
        }
        if let Some(k) = n.shard {
            t["shard"] = value(i64::from(k));
        }
        let mut prefix = String::from("\n");
        if let Some(c) = &n.comment {
            // One line: a newline in it would end the comment early.
            let c = c.replace(['\r', '\n'], " ");
            let _ = writeln!(prefix, "# {c}");
        }
        t.decor_mut().set_prefix(prefix);
        tables.push(t);
    }
    let mut doc = DocumentMut::new();
    doc.insert("node", Item::ArrayOfTables(tables));
    doc.to_string()
}

/// Adds `nodes` to the fleet file text, at its end, as `[[node]]` push tables.
/// Pure: no file, no network. Nodes whose IP is already a push node of the text
/// are left out, so doing it twice adds nothing twice. Returns the new text and
/// how many were added (0: the text is returned unchanged).
///
/// A name the text already uses is an error, not a silent rename: names are
/// chosen before with [`Known::claim`], and one that still collides means the
/// file changed in between.
pub fn append_push_nodes(text: &str, nodes: &[NewNode]) -> Result<(String, usize), String> {
    let doc = parse(text)?;
    if let Some(item) = doc.get("node")
        && !item.is_array_of_tables()
    {
        return Err(
            "`node` is not written as [[node]] tables; add the new nodes by hand".to_owned(),
        );
    }
    let mut known = Known::of_text(text)?;
    let mut fresh = Vec::with_capacity(nodes.len());
    for n in nodes {
        if !known.claim_ip(n.host) {
            continue;
        }
        if !known.names.insert(n.name.clone()) {
            return Err(format!(
                "a node named {:?} is already in the file; choose another name",
                n.name
            ));
        }
        fresh.push(n.clone());
    }
    if fresh.is_empty() {
        return Ok((text.to_owned(), 0));
    }
    let mut out = text.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&render_nodes(&fresh));
    // The new text must still be one TOML document with the nodes added, not, say,
    // keys that landed inside a table the file left open.
    let after = parse(&out)?;
    let before_count = node_tables(&doc).count();
    if node_tables(&after).count() != before_count + fresh.len() {
        return Err("the nodes could not be added at the end of the file".to_owned());
    }
    Ok((out, fresh.len()))
}

/// What [`append_to_file`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The nodes written, with the names they got.
    pub added: Vec<NewNode>,
    /// Candidates left out because a push node with their IP is listed.
    pub already: usize,
    /// The file did not exist and was created.
    pub created: bool,
}

/// Adds push nodes to the fleet file at `path` (created when missing). Each
/// candidate's name is a base: it gets `-2`, `-3`… when the file (ranges and
/// `nodes_file` rows included) already has it. Candidates whose IP is already
/// listed are skipped.
///
/// `shard`: the shard the nodes are for (`--shard`, or the running monitor's),
/// if any; a candidate without a pin is pinned to its index. The result must load
/// as a config, the way the monitor will load it (and, when sharded, as that
/// shard's instance will select from it), before it replaces the file. It is
/// written beside the real file (a symlink is followed) and renamed over it,
/// keeping its mode, owner and group.
pub fn append_to_file(
    path: &Path,
    candidates: &[NewNode],
    shard: Option<Shard>,
) -> Result<Appended, String> {
    let shown = path.display();
    let (text, created) = match std::fs::read(path) {
        Ok(bytes) => (
            String::from_utf8(bytes).map_err(|_| format!("{shown} is not UTF-8 text"))?,
            false,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), true),
        Err(e) => return Err(format!("cannot read {shown}: {e}")),
    };
    // Expanded names and IPs when the file loads; its written tables when it does
    // not (yet): a file with only `[listen]` has no node and does not load.
    let mut known = match Config::load(path) {
        Ok(c) => Known::of_config(&c),
        Err(_) => Known::of_text(&text).map_err(|e| format!("{shown}: {e}"))?,
    };
    let mut chosen = Vec::new();
    let mut already = 0;
    for c in candidates {
        if known.has_ip(c.host) {
            already += 1;
            continue;
        }
        known.claim_ip(c.host);
        chosen.push(NewNode {
            name: known.claim(&c.name),
            shard: c.shard.or(shard.map(|s| s.index)),
            ..c.clone()
        });
    }
    if chosen.is_empty() {
        return Ok(Appended {
            added: Vec::new(),
            already,
            created: false,
        });
    }
    let (out, _) = append_push_nodes(&text, &chosen).map_err(|e| format!("{shown}: {e}"))?;
    write_checked(path, &out, created, shard)?;
    Ok(Appended {
        added: chosen,
        already,
        created,
    })
}

/// Checks `text` as the monitor will load it from `path` (and as `shard`'s
/// instance selects from it, when sharded), then writes it to a temporary file
/// beside the real file behind `path`, gives that the old file's mode, owner and
/// group, and renames it over the real file. Any failure leaves the file
/// untouched (and removes the temporary file).
fn write_checked(
    path: &Path,
    text: &str,
    created: bool,
    shard: Option<Shard>,
) -> Result<(), String> {
    let shown = path.display();
    // Checked at `path` as given, not at the link's target: the monitor started
    // with this path resolves relative `nodes_file` and `*_file` paths beside it.
    let config = Config::from_text_at(text, path)
        .map_err(|e| format!("not changed: with the new nodes {shown} would not load: {e}"))?;
    // `Config::from_text_at` takes the whole file; a sharded instance then selects
    // its part, and refuses the file if, say, a push node has no `shard = K`.
    let selection = Selection {
        shard,
        ..Selection::default()
    };
    if let Some(used) = selection.shard_for(&config)
        && let Err(e) = selection.apply(config)
    {
        return Err(format!(
            "not changed: with the new nodes the instance for shard {used} would refuse {shown}: {e}"
        ));
    }
    // The rename replaces a directory entry: done on a symlink, it would put a
    // plain file where the link was. The link's target is the file to replace,
    // and the temporary file must be in its directory for the rename to be atomic.
    let target = real_file(path)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".syncguard-fleet-")
        .suffix(".toml")
        .tempfile_in(dir)
        .map_err(|e| format!("cannot write beside {shown}: {e}"))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| format!("cannot write beside {shown}: {e}"))?;
    let original = if created {
        None
    } else {
        Some(
            std::fs::metadata(&target)
                .map_err(|e| format!("cannot read the permissions of {shown}: {e}"))?,
        )
    };
    match &original {
        Some(meta) => {
            // Owner first: a chown can clear set-id bits that the mode restores.
            keep_owner(tmp.as_file(), meta, &shown.to_string())?;
            tmp.as_file().set_permissions(meta.permissions())
        }
        // A new file gets the usual permissions, not the temporary file's 0600.
        None => default_permissions(tmp.path()),
    }
    .map_err(|e| format!("cannot set the permissions of the new {shown}: {e}"))?;
    tmp.persist(&target)
        .map_err(|e| format!("cannot replace {shown}: {}", e.error))?;
    Ok(())
}

/// The file behind `path`: symlinks followed. A path that does not exist yet is
/// itself; a symlink to nothing is refused rather than replaced by a file.
fn real_file(path: &Path) -> Result<PathBuf, String> {
    match std::fs::canonicalize(path) {
        Ok(p) => Ok(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                Err(format!(
                    "{} is a symlink to a file that does not exist; create that file or \
                     point the link at the fleet file",
                    path.display()
                ))
            } else {
                Ok(path.to_owned())
            }
        }
        Err(e) => Err(format!("cannot follow {}: {e}", path.display())),
    }
}

/// Gives the new file the old one's owner and group. A user who may write the
/// file but not chown it (not root, someone else's file) would silently take it
/// over — a root-owned `0640` file readable by the `syncguard` group, say, would
/// become theirs and unreadable to the service — so that is refused instead.
#[cfg(unix)]
fn keep_owner(
    tmp: &std::fs::File,
    original: &std::fs::Metadata,
    shown: &str,
) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let (uid, gid) = (original.uid(), original.gid());
    let now = tmp
        .metadata()
        .map_err(|e| format!("cannot read the new {shown}: {e}"))?;
    if (now.uid(), now.gid()) == (uid, gid) {
        return Ok(());
    }
    std::os::unix::fs::fchown(tmp, Some(uid), Some(gid)).map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            format!(
                "not changed: {shown} belongs to user {uid}, group {gid}, and this user \
                 cannot give the new file that owner ({e}); run this as the file's owner \
                 or as root (sudo), so the file keeps its owner and group"
            )
        } else {
            format!("not changed: cannot give the new {shown} its owner and group: {e}")
        }
    })
}

#[cfg(not(unix))]
fn keep_owner(
    _tmp: &std::fs::File,
    _original: &std::fs::Metadata,
    _shown: &str,
) -> Result<(), String> {
    Ok(())
}

#[cfg(unix)]
fn default_permissions(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn default_permissions(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, ip: &str) -> NewNode {
        NewNode {
            name: name.into(),
            host: ip.parse().expect("ip"),
            group: None,
            shard: None,
            comment: Some(format!("heard {ip}")),
        }
    }

    const FILE: &str = "\
# The stage fleet.
[defaults]
port = 8080 # the SyncGuard default

[[node]]
name = \"wall-01\"   # left of stage
host = \"10.0.0.1\"

[[node]]
name = \"led-01\"
host = \"10.0.1.1\"
mode = \"push\"

# Trailing remark.
";

    #[test]
    fn appends_at_the_end_and_keeps_everything_else_byte_for_byte() {
        let new = [
            node("node-10-0-1-2", "10.0.1.2"),
            node("wall-01x", "10.0.1.3"),
        ];
        let (out, added) = append_push_nodes(FILE, &new).expect("append");
        assert_eq!(added, 2);
        assert!(out.starts_with(FILE), "{out}");
        let tail = &out[FILE.len()..];
        assert!(tail.contains("# heard 10.0.1.2\n[[node]]\nname = \"node-10-0-1-2\"\nhost = \"10.0.1.2\"\nmode = \"push\"\n"), "{tail}");
        let cfg = Config::parse(&out, "t.toml").expect("valid");
        assert_eq!(cfg.nodes.len(), 4);
        assert_eq!(cfg.push_nodes().count(), 3);
    }

    #[test]
    fn twice_adds_nothing_twice_and_a_listed_ip_is_skipped() {
        let new = [node("a", "10.0.1.2"), node("b", "10.0.1.1")];
        let (once, added) = append_push_nodes(FILE, &new).expect("append");
        assert_eq!(added, 1, "10.0.1.1 is led-01");
        let (twice, again) = append_push_nodes(&once, &new).expect("append");
        assert_eq!((again, twice), (0, once));
        // The IPv4-mapped form of a listed IP is that IP.
        let mapped = [node("m", "::ffff:10.0.1.1")];
        assert_eq!(append_push_nodes(FILE, &mapped).expect("append").1, 0);
    }

    #[test]
    fn a_taken_name_is_refused_not_renamed() {
        let e = append_push_nodes(FILE, &[node("wall-01", "10.0.9.9")]).expect_err("taken");
        assert!(e.contains("\"wall-01\" is already in the file"), "{e}");
    }

    #[test]
    fn an_inline_node_array_or_broken_toml_is_refused() {
        let inline = "node = [{ name = \"a\", host = \"10.0.0.1\" }]\n";
        let e = append_push_nodes(inline, &[node("b", "10.0.0.2")]).expect_err("inline");
        assert!(e.contains("[[node]]"), "{e}");
        let e = append_push_nodes("[[node]\n", &[node("b", "10.0.0.2")]).expect_err("broken");
        assert!(e.starts_with("not valid TOML"), "{e}");
    }

    #[test]
    fn group_and_comment_are_written_and_a_file_without_newline_is_fine() {
        let mut n = node("x", "10.0.0.2");
        n.group = Some("wall A".into());
        n.comment = Some("two\nlines".into());
        let (out, _) =
            append_push_nodes("[listen]\nbind = [\"0.0.0.0:8080\"]", &[n]).expect("append");
        assert!(out.contains("# two lines\n"), "{out}");
        assert!(out.contains("group = \"wall A\""), "{out}");
        Config::parse(&out, "t.toml").expect("valid");
    }

    #[test]
    fn names_from_ips_and_dns() {
        assert_eq!(
            ip_name("192.168.0.201".parse().expect("ip")),
            "node-192-168-0-201"
        );
        assert_eq!(ip_name("fd00::1".parse().expect("ip")), "node-fd00--1");
        assert_eq!(
            ip_name("::ffff:10.1.2.3".parse().expect("ip")),
            "node-10-1-2-3"
        );
        assert_eq!(
            dns_name("Render-01.stage.example."),
            Some("render-01".into())
        );
        assert_eq!(dns_name("localhost"), Some("localhost".into()));
        assert_eq!(dns_name("10.in-addr"), None);
        assert_eq!(dns_name("..."), None);
        assert_eq!(dns_name("wall\u{1b}[31m.x"), Some("wall31m".into()));
    }

    #[test]
    fn claim_suffixes_taken_names() {
        let mut k = Known::default();
        k.names.insert("a".into());
        k.names.insert("a-2".into());
        assert_eq!(k.claim("a"), "a-3");
        assert_eq!(k.claim("a"), "a-4");
        assert_eq!(k.claim("b"), "b");
        assert_eq!(k.claim("b"), "b-2");
    }

    #[test]
    fn the_file_wrapper_validates_keeps_permissions_and_is_idempotent() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("fleet.toml");
        std::fs::write(&path, FILE).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        }
        let cands = [node("wall-01", "10.0.1.2"), node("x", "10.0.1.1")];
        let r = append_to_file(&path, &cands, None).expect("append");
        assert_eq!(r.already, 1);
        assert_eq!(r.added.len(), 1);
        assert_eq!(r.added[0].name, "wall-01-2", "the taken name got a suffix");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with(FILE));
        Config::load(&path).expect("loads");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o640);
        }
        let again = append_to_file(&path, &cands, None).expect("append");
        assert!(again.added.is_empty());
        assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
        // Nothing left behind.
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn a_result_that_would_not_load_leaves_the_file_alone() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("fleet.toml");
        let mut n = node("x", "10.0.1.2");
        n.group = Some(" ".into());
        std::fs::write(&path, FILE).expect("write");
        let e = append_to_file(&path, &[n], None).expect_err("invalid group");
        assert!(e.starts_with("not changed: "), "{e}");
        assert!(e.contains("fleet.toml"), "{e}");
        assert!(!e.contains(".syncguard-fleet-"), "names the real file: {e}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), FILE);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn a_missing_file_is_created() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("new.toml");
        let r = append_to_file(&path, &[node("a", "10.0.1.2")], None).expect("append");
        assert!(r.created);
        let cfg = Config::load(&path).expect("loads");
        assert_eq!(cfg.nodes[0].name, "a");
    }

    const SHARDED: &str = "\
[shard]
index = 1
count = 2

[[node]]
name = \"wall-01\"
host = \"10.0.0.1\"
";

    #[test]
    fn a_pin_is_written_and_the_text_shard_is_read() {
        let mut n = node("p", "10.0.1.2");
        n.shard = Some(2);
        let out = render_nodes(&[n]);
        assert!(out.contains("mode = \"push\"\nshard = 2\n"), "{out}");
        assert_eq!(shard_of_text(SHARDED), Some(Shard { index: 1, count: 2 }));
        assert_eq!(shard_of_text(FILE), None);
        assert_eq!(shard_of_text("[shard]\nindex = 3\ncount = 2\n"), None);
        assert!(!Known::of_text(FILE).expect("known").pinned);
        let pinned = format!("{FILE}shard = 1\n");
        assert!(Known::of_text(&pinned).expect("known").pinned);
    }

    #[test]
    fn in_a_sharded_file_new_nodes_are_pinned_and_checked_as_the_shard_reads_it() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("fleet.toml");
        std::fs::write(&path, SHARDED).expect("write");
        // Without a shard to pin to, the new push node would be refused by every
        // instance: the file is left alone.
        let e = append_to_file(&path, &[node("p", "10.0.1.2")], None).expect_err("unpinned");
        assert!(e.starts_with("not changed: "), "{e}");
        assert!(e.contains("shard 1/2"), "{e}");
        assert!(e.contains("has no shard key"), "{e}");
        assert!(!e.contains(".syncguard-fleet-"), "names the real file: {e}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), SHARDED);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);

        let one = Shard::new(1, 2).expect("shard");
        let r = append_to_file(&path, &[node("p", "10.0.1.2")], Some(one)).expect("append");
        assert_eq!(r.added[0].shard, Some(1));
        let cfg = Config::load(&path).expect("loads");
        let sel = Selection::default()
            .apply(cfg)
            .expect("shard 1 of the file");
        let p = sel
            .nodes
            .iter()
            .find(|n| n.name == "p")
            .expect("in shard 1");
        assert_eq!(p.shard, Some(1));
        // `--shard 2/2` on a file that says 1/2: pinned to 2, which shard 2 takes.
        let two = Shard::new(2, 2).expect("shard");
        let r = append_to_file(&path, &[node("q", "10.0.1.3")], Some(two)).expect("append");
        assert_eq!(r.added[0].shard, Some(2));
        let cfg = Config::load(&path).expect("loads");
        let sel = Selection {
            shard: Some(two),
            ..Selection::default()
        }
        .apply(cfg)
        .expect("shard 2");
        assert!(sel.nodes.iter().any(|n| n.name == "q"));
    }

    #[test]
    fn a_shard_from_the_command_line_is_checked_on_an_unsharded_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("fleet.toml");
        // `led-01` is a push node without a pin: no instance of 2 could load this.
        std::fs::write(&path, FILE).expect("write");
        let one = Shard::new(1, 2).expect("shard");
        let e = append_to_file(&path, &[node("p", "10.0.1.2")], Some(one)).expect_err("led-01");
        assert!(e.contains("\"led-01\" has no shard key"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), FILE);
    }

    /// `text` in `real/fleet.toml`, with `fleet.toml` a symlink to it, in a new
    /// directory: (the directory, the real file, the link).
    #[cfg(unix)]
    fn linked_fleet(text: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().expect("dir");
        let real_dir = dir.path().join("real");
        std::fs::create_dir(&real_dir).expect("mkdir");
        let real = real_dir.join("fleet.toml");
        std::fs::write(&real, text).expect("write");
        let link = dir.path().join("fleet.toml");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        (dir, real, link)
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_stays_a_symlink_and_mode_and_owner_are_kept() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let (dir, real, link) = linked_fleet(FILE);
        let real_dir = dir.path().join("real");
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        // As root, give the file another owner, as a .deb's root:syncguard would be.
        let root = rustix::process::geteuid().is_root();
        if root {
            std::os::unix::fs::chown(&real, Some(65534), Some(65534)).expect("chown");
        }
        let before = std::fs::metadata(&real).expect("meta");

        let r = append_to_file(&link, &[node("p", "10.0.1.2")], None).expect("append");
        assert_eq!(r.added.len(), 1);
        let meta = std::fs::symlink_metadata(&link).expect("meta");
        assert!(meta.file_type().is_symlink(), "the link is still a link");
        assert_eq!(std::fs::read_link(&link).expect("link"), real);
        let text = std::fs::read_to_string(&real).expect("read");
        assert!(
            text.starts_with(FILE) && text.contains("name = \"p\""),
            "{text}"
        );
        let after = std::fs::metadata(&real).expect("meta");
        assert_eq!(after.permissions().mode() & 0o7777, 0o640);
        assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
        if root {
            assert_eq!((after.uid(), after.gid()), (65534, 65534));
        }
        // The temporary file was in the target's directory, and is gone.
        assert_eq!(std::fs::read_dir(&real_dir).expect("ls").count(), 1);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn relative_paths_are_checked_beside_the_link_where_the_monitor_reads_them() {
        // The monitor started with the link's path reads `nodes.csv` beside the
        // link; a copy beside the target would be a different list (or none).
        let (dir, real, link) = linked_fleet(&format!("nodes_file = \"nodes.csv\"\n{FILE}"));
        let real_dir = dir.path().join("real");
        std::fs::write(
            dir.path().join("nodes.csv"),
            "name,host,port,group,mode\nrow-1,10.0.2.1,8080,,poll\n",
        )
        .expect("csv");

        let r = append_to_file(&link, &[node("p", "10.0.1.2")], None).expect("append");
        assert_eq!(r.added.len(), 1);
        let loaded = Config::load(&link).expect("the monitor's load");
        let names: Vec<&str> = loaded.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            ["wall-01", "led-01", "p", "row-1"],
            "CSV rows come after the tables"
        );

        // Beside the target instead, the file would not load where the monitor
        // reads it: refused, nothing written.
        std::fs::rename(dir.path().join("nodes.csv"), real_dir.join("nodes.csv")).expect("mv");
        let before = std::fs::read_to_string(&real).expect("read");
        let e = append_to_file(&link, &[node("q", "10.0.1.3")], None).expect_err("refused");
        assert!(e.contains("not changed") && e.contains("nodes.csv"), "{e}");
        assert!(
            e.contains(&link.display().to_string()),
            "names the file as given: {e}"
        );
        assert_eq!(std::fs::read_to_string(&real).expect("read"), before);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_to_nothing_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let link = dir.path().join("fleet.toml");
        std::os::unix::fs::symlink(dir.path().join("gone.toml"), &link).expect("symlink");
        let e = append_to_file(&link, &[node("p", "10.0.1.2")], None).expect_err("dangling");
        assert!(e.contains("symlink to a file that does not exist"), "{e}");
        assert!(
            std::fs::symlink_metadata(&link)
                .expect("meta")
                .file_type()
                .is_symlink()
        );
        assert!(!dir.path().join("gone.toml").exists());
    }
}
