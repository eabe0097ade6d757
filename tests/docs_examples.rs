//! The README and the pages in docs/ stay true: every ```toml block is validated as a
//! config, every shell block parses, and every relative link and anchor resolves.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use syncguard_fleet::config::Config;

/// A fenced code block: the file and 1-based line of its opening fence, the info
/// string after the backticks, and its text with the fence's indentation removed.
struct Block {
    file: PathBuf,
    line: usize,
    info: String,
    text: String,
}

/// The package root, canonical so that resolved links compare equal to it.
fn root() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    dir.canonicalize().unwrap_or(dir)
}

/// README.md and every docs/*.md, sorted; fails when docs/ has no pages.
fn doc_files() -> Vec<PathBuf> {
    let docs = root().join("docs");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&docs)
        .unwrap_or_else(|e| panic!("{}: {e}", docs.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    assert!(!pages.is_empty(), "no pages in {}", docs.display());
    let mut files = vec![root().join("README.md")];
    files.extend(pages);
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn show(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The fenced blocks of one Markdown file. Fences may be indented (inside a list
/// item); a fence closes on a line of at least as many backticks and nothing else.
fn fenced_blocks(file: &Path, text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, usize, usize, String, Vec<&str>)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let ticks = trimmed.chars().take_while(|&c| c == '`').count();
        match open.as_mut() {
            None if ticks >= 3 => {
                let info = trimmed[ticks..].trim().to_owned();
                open = Some((i + 1, indent, ticks, info, Vec::new()));
            }
            None => {}
            Some((_, _, fence, _, _)) if ticks >= *fence && trimmed[ticks..].trim().is_empty() => {
                if let Some((start, _, _, info, lines)) = open.take() {
                    blocks.push(Block {
                        file: file.to_owned(),
                        line: start,
                        info,
                        text: lines.join("\n") + "\n",
                    });
                }
            }
            Some((_, fence_indent, _, _, lines)) => {
                let cut = indent.min(*fence_indent);
                lines.push(&line[cut..]);
            }
        }
    }
    assert!(
        open.is_none(),
        "{}: a code fence is never closed",
        show(file)
    );
    blocks
}

#[test]
fn every_toml_block_in_the_docs_is_a_valid_config() {
    let (mut whole, mut fragments, mut invalid) = (0, 0, 0);
    let mut failures = Vec::new();
    for file in doc_files() {
        let page = read(&file);
        for block in fenced_blocks(&file, &page) {
            let mut words = block.info.split_whitespace();
            if words.next() != Some("toml") {
                continue;
            }
            let at = format!("{}:{}", show(&block.file), block.line);
            match words.next() {
                None => {
                    whole += 1;
                    // Error positions count from the fence line.
                    let label = format!("{} block at line {}", show(&block.file), block.line);
                    if let Err(e) = Config::parse(&block.text, &label) {
                        failures.push(format!("{at}: not a valid config: {e}"));
                    }
                }
                // One table shown on its own: it cannot validate without a
                // [[node]], but it must still be TOML.
                Some("fragment") => {
                    fragments += 1;
                    if let Err(e) = toml::from_str::<toml::Table>(&block.text) {
                        failures.push(format!("{at}: fragment is not TOML: {e}"));
                    }
                }
                // A config shown to explain an error: it must be rejected, with
                // the very message the page prints.
                Some("invalid") => {
                    invalid += 1;
                    match Config::parse(&block.text, "fleet.toml") {
                        Ok(_) => failures.push(format!("{at}: marked invalid but it validates")),
                        Err(e) if !page.contains(&e.to_string()) => failures.push(format!(
                            "{at}: the page does not show the error it produces: {e}"
                        )),
                        Err(_) => {}
                    }
                }
                Some(other) => failures.push(format!("{at}: unknown toml fence marker {other:?}")),
            }
        }
    }
    println!(
        "toml blocks: {whole} whole configs, {fragments} fragments, {invalid} invalid on purpose"
    );
    assert!(whole > 0, "no ```toml blocks found in README.md or docs/");
    assert!(
        failures.is_empty(),
        "{} toml block(s) wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// GitHub's anchor for a heading: lower case, spaces to hyphens, other
/// punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a page's headings, skipping fenced blocks.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_fence = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence && line.starts_with('#') {
            out.insert(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

/// The targets of inline links `[text](target)` outside code, in order.
fn links(text: &str) -> Vec<String> {
    let mut in_fence = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        // Drop code spans, so `a](b)` inside backticks is not a link.
        let prose: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, s)| s)
            .collect();
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let end = rest.find([')', ' ']).unwrap_or(rest.len());
            out.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    out
}

#[test]
fn readme_links_every_docs_page_and_every_link_resolves() {
    let files = doc_files();
    let pages: BTreeSet<String> = files[1..].iter().map(|p| show(p)).collect();
    let mut linked_from_readme = BTreeSet::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = read(file);
        let dir = file.parent().unwrap_or(Path::new("."));
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, fragment) = match target.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (target.as_str(), None),
            };
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            let Ok(resolved) = resolved.canonicalize() else {
                failures.push(format!("{}: {target}: no such file", show(file)));
                continue;
            };
            if file.ends_with("README.md") && path.starts_with("docs/") {
                linked_from_readme.insert(show(&resolved));
            }
            if let Some(fragment) = fragment
                && !anchors(&read(&resolved)).contains(fragment)
            {
                failures.push(format!("{}: {target}: no such heading", show(file)));
            }
        }
    }
    println!("{checked} relative links checked");
    for page in pages.difference(&linked_from_readme) {
        failures.push(format!("README.md does not link {page}"));
    }
    assert!(
        failures.is_empty(),
        "{} link problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Shell examples must at least parse; `sh -n` reads them without running anything.
#[cfg(unix)]
#[test]
fn every_shell_block_parses() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let mut count = 0;
    let mut failures = Vec::new();
    for file in doc_files() {
        for block in fenced_blocks(&file, &read(&file)) {
            if !matches!(block.info.as_str(), "sh" | "bash" | "shell") {
                continue;
            }
            count += 1;
            let mut child = Command::new("sh")
                .arg("-n")
                .stdin(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("sh is needed to check the shell examples");
            if let Some(mut stdin) = child.stdin.take() {
                stdin
                    .write_all(block.text.as_bytes())
                    .expect("write the example to sh");
            }
            let out = child.wait_with_output().expect("wait for sh");
            if !out.status.success() {
                failures.push(format!(
                    "{}:{}: {}",
                    show(&block.file),
                    block.line,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
    }
    assert!(count > 0, "no ```sh blocks found in README.md or docs/");
    assert!(
        failures.is_empty(),
        "shell example(s) do not parse:\n{}",
        failures.join("\n")
    );
}

/// The systemd unit in examples/ stays current: systemd accepts it, and its
/// ExecStart is a command line the binary takes (it gets as far as reading the
/// config, not a usage error).
#[test]
fn systemd_unit_verifies_and_its_command_line_is_accepted() {
    use std::process::Command;

    use common::bin::BIN;
    let have = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::skip::require(
        "docs_examples::systemd_unit_verifies_and_its_command_line_is_accepted",
        have,
        "systemd-analyze not installed",
    ) {
        return;
    }
    let unit = read(&root().join("examples/syncguard-fleet.service"));
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("the unit has an ExecStart");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("syncguard-fleet.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/syncguard-fleet", BIN)).expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !said.contains("syncguard-fleet.service:"),
        "systemd-analyze verify: {said}"
    );
    let mut args = exec.split_whitespace();
    assert_eq!(args.next(), Some("/usr/local/bin/syncguard-fleet"));
    let missing = dir.path().join("missing.toml");
    let args: Vec<String> = args
        .map(|a| {
            if a.ends_with("fleet.toml") {
                missing.display().to_string()
            } else {
                a.to_owned()
            }
        })
        .collect();
    let out = Command::new(BIN)
        .args(&args)
        .output()
        .expect("run the binary");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("missing.toml: cannot read config"),
        "ExecStart's arguments were not taken as a command line: {err}"
    );
}

/// Every `syncguard-fleet history …` and `uptime …` line in the shell examples is
/// a command line the binary takes: run against a file that does not exist, it
/// gets as far as looking for the file (exit 3, "not found"), not a usage error.
#[test]
fn every_documented_history_and_uptime_command_is_accepted() {
    use common::bin::bin;
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.db");
    let mut count = 0;
    for file in doc_files() {
        for block in fenced_blocks(&file, &read(&file)) {
            if !matches!(block.info.as_str(), "sh" | "bash" | "shell") {
                continue;
            }
            for line in block.text.lines() {
                // The command itself: no comment, redirection or pipe.
                let line = line.split(['#', '>', '|']).next().unwrap_or("");
                let mut words = line.split_whitespace();
                if words.next() != Some("syncguard-fleet") {
                    continue;
                }
                let args: Vec<&str> = words.collect();
                if !matches!(args.first(), Some(&("history" | "uptime"))) {
                    continue;
                }
                count += 1;
                let out = common::bin::run(bin().args(&args).arg("--db").arg(&missing));
                assert!(
                    out.code == 3 && out.stderr.contains("history database not found"),
                    "{}:{}: `syncguard-fleet {}` is not accepted: {}",
                    show(&block.file),
                    block.line,
                    args.join(" "),
                    out.stderr
                );
            }
        }
    }
    assert!(count >= 4, "only {count} history/uptime examples found");
}
