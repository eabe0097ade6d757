//! `completions` and `manpage`: generated from the one clap definition in
//! [`crate::cli`], so they can never disagree with `--help`.

use std::io::Write;

use clap::CommandFactory;
use roff::{Roff, bold, roman};

use crate::cli::Cli;

/// The binary's name, as completions must register it.
pub const BIN: &str = "syncguard-fleet";

/// The completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut out);
    out
}

/// The manual page, section 1, in roff: the top-level command with every
/// subcommand after it, and the exit codes.
pub fn manpage() -> std::io::Result<Vec<u8>> {
    let cmd = Cli::command();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    render_subcommands(&cmd, &mut out)?;
    man.render_extra_section(&mut out)?;
    man.render_version_section(&mut out)?;
    writeln!(out, ".SH FILES")?;
    writeln!(out, ".TP\n\\fI/etc/syncguard/fleet.toml\\fR")?;
    writeln!(
        out,
        "The fleet file of the packaged service (see also \\fB\\-\\-config\\fR)."
    )?;
    writeln!(out, ".SH \"SEE ALSO\"")?;
    writeln!(
        out,
        "The documentation in /usr/share/doc/syncguard-fleet and docs/ in the source."
    )?;
    Ok(out)
}

/// One `.SS` per subcommand (and nested ones), with its about text and
/// options: one page tells the whole interface. clap_mangen renders one
/// command per page; the `roff` crate (which it uses too) does the escaping.
fn render_subcommands(cmd: &clap::Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    let mut page = Roff::new();
    page.control("SH", ["COMMANDS"]);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        subcommand(sub, BIN, &mut page);
    }
    page.to_writer(out)
}

fn subcommand(cmd: &clap::Command, parent: &str, page: &mut Roff) {
    let path = format!("{parent} {}", cmd.get_name());
    page.control("SS", [path.as_str()]);
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        page.text([roman(about.to_string())]);
    }
    for arg in cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_global_set())
    {
        let id = arg.get_id().as_str();
        if id == "help" || id == "version" {
            continue;
        }
        let mut flag = match (arg.get_short(), arg.get_long()) {
            (Some(s), Some(l)) => format!("-{s}, --{l}"),
            (None, Some(l)) => format!("--{l}"),
            (Some(s), None) => format!("-{s}"),
            (None, None) => String::new(),
        };
        if arg.get_action().takes_values() {
            let value = arg
                .get_value_names()
                .map(|v| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|| id.to_uppercase());
            flag = if flag.is_empty() {
                value
            } else {
                format!("{flag} {value}")
            };
        }
        page.control("TP", []).text([bold(flag)]);
        if let Some(help) = arg.get_long_help().or(arg.get_help()) {
            page.text([roman(help.to_string())]);
        }
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        subcommand(sub, &path, page);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
            clap_complete::Shell::PowerShell,
        ] {
            let text = String::from_utf8(completions(shell)).expect("utf-8");
            // fish spells a long option `-l once`; the others `--once`.
            let long = |o: &str| match shell {
                clap_complete::Shell::Fish => format!("-l {o}"),
                _ => format!("--{o}"),
            };
            for word in [
                "discover".to_owned(),
                "completions".to_owned(),
                "check".to_owned(),
                long("once"),
                long("shard"),
                long("ignore-acked"),
            ] {
                assert!(text.contains(&word), "{shell:?} lacks {word}");
            }
        }
    }

    #[test]
    fn the_manpage_has_every_command_and_the_exit_codes() {
        let text = String::from_utf8(manpage().expect("render")).expect("utf-8");
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{text}");
        for word in [
            ".TH syncguard-fleet 1",
            ".SS \"syncguard-fleet config check\"",
            ".SS \"syncguard-fleet discover\"",
            ".SS \"syncguard-fleet ack\"",
            "\\fB\\-\\-append PATH\\fR",
            "\\-\\-ignore\\-acked",
            "3  UNKNOWN",
            "/etc/syncguard/fleet.toml",
        ] {
            assert!(text.contains(word), "man page lacks {word:?}");
        }
        // No body line may start like a roff request by accident.
        let stray: Vec<&str> = text.lines().filter(|l| l.starts_with('\'')).collect();
        assert!(stray.is_empty(), "stray control lines: {stray:?}");
    }
}
