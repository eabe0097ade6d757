//! [`ConfigError`] and the text positions behind it: byte spans from the TOML parser
//! become `file:line:column: key:` so every message points at the line to fix.

use std::fmt;
use std::ops::Range;

use super::ENV_VAR;

/// A config that could not be used. Printed as is; exit code 3.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // The io error is part of the message, not a `source`: printed with its cause
    // chain it would otherwise appear twice.
    #[error("{path}: cannot read config: {cause} (choose a file with --config PATH or {ENV_VAR})")]
    Read { path: String, cause: std::io::Error },
    #[error("{path}: config is not UTF-8 text{hint}")]
    NotUtf8 { path: String, hint: &'static str },
    #[error("{path}:{line}:{column}: {key}: {message}")]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
}

/// The text being validated, for turning byte spans into messages. The validators
/// of each table are methods on it, so they all report positions the same way.
pub(super) struct Cx<'a> {
    pub(super) text: &'a str,
    pub(super) label: &'a str,
}

impl Cx<'_> {
    pub(super) fn err(
        &self,
        span: Range<usize>,
        key: impl fmt::Display,
        message: impl fmt::Display,
    ) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError::Invalid {
            path: self.label.to_owned(),
            line,
            column,
            key: key.to_string(),
            message: message.to_string(),
        }
    }

    pub(super) fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let span = e.span().unwrap_or(0..0);
        let key = key_path_at(self.text, span.start);
        // toml's message may span lines (it can quote the source); keep one line.
        let mut message = e.message().trim().replace('\n', " ");
        // TOML puts a key written after `[[node]]` into that node: say where
        // the file's own keys go.
        if message.starts_with("unknown field `nodes_file`") && key.contains('.') {
            message.push_str(
                " (nodes_file is a key of the file itself: write it above the first [table])",
            );
        }
        self.err(span, key, message)
    }

    /// Where `key` stands inside `[table]`, for errors about a value serde already
    /// accepted. Falls back to the table header, or the start of the file.
    pub(super) fn find_key(&self, table: &str, key: &str) -> Range<usize> {
        let header = format!("[{table}]");
        let start = self.text.find(&header).unwrap_or(0);
        let pos = self.text[start..]
            .find(key)
            .map(|p| start + p)
            .unwrap_or(start);
        pos..pos
    }

    /// The line (1-based) a byte offset is on.
    pub(super) fn line_of(&self, offset: usize) -> usize {
        line_col(self.text, offset).0
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Best-effort dotted key path (`node[2].port`) for a byte offset, for errors that
/// come from the TOML parser itself. Covers headers and `key = value` lines.
fn key_path_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let mut table = String::new();
    let mut array_counts: std::collections::HashMap<String, usize> = Default::default();
    let mut pos = 0usize;
    for line in text.split_inclusive('\n') {
        let line_end = pos + line.len();
        let trimmed = line.trim();
        if let Some(name) = trimmed
            .strip_prefix("[[")
            .and_then(|r| r.split("]]").next())
        {
            let name = name.trim().to_owned();
            let n = array_counts.entry(name.clone()).or_insert(0);
            table = format!("{name}[{n}]");
            *n += 1;
        } else if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = name.trim().to_owned();
        }
        if offset < line_end || line_end == text.len() {
            let is_header = trimmed.starts_with('[');
            let key = if is_header {
                None
            } else {
                trimmed
                    .split_once('=')
                    .map(|(k, _)| k.trim().trim_matches('"').trim_matches('\'').to_owned())
                    .filter(|k| !k.is_empty())
            };
            return match (table.is_empty(), key) {
                (true, Some(k)) => k,
                (false, Some(k)) => format!("{table}.{k}"),
                (true, None) => "(top level)".into(),
                (false, None) => table,
            };
        }
        pos = line_end;
    }
    "(top level)".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_path_locator() {
        let t = "[defaults]\nport = 1\n[[node]]\nname = \"a\"\n[[node]]\nport = 2\n";
        assert_eq!(
            key_path_at(t, t.find("port = 1").unwrap_or(0)),
            "defaults.port"
        );
        assert_eq!(key_path_at(t, t.rfind("port").unwrap_or(0)), "node[1].port");
        assert_eq!(line_col(t, t.rfind("port").unwrap_or(0)), (6, 1));
    }

    #[test]
    fn toml_syntax_errors_name_file_and_line() {
        super::super::assert_errors(&[("[[node]\nname = \"a\"\n", "fleet.toml:1:")]);
    }
}
