//! Escaping of untrusted text before it reaches a terminal, a log or a report.
//! Anything that came from the network passes through [`escape`] first.

use std::fmt::Write;

/// Default width of a preview of untrusted text, in characters.
pub const PREVIEW_CHARS: usize = 48;

/// Renders untrusted bytes as printable text: control characters become `\x1b`-style
/// escapes, bytes that are not UTF-8 become `\xff`, and text longer than `max_chars`
/// is cut with `…`. The result is always safe to print raw.
pub fn escape(bytes: &[u8], max_chars: usize) -> String {
    let mut out = String::with_capacity(bytes.len().min(max_chars) + 8);
    let mut shown = 0usize;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if shown >= max_chars {
                out.push('…');
                return out;
            }
            push_char(&mut out, c);
            shown += 1;
        }
        for b in chunk.invalid() {
            if shown >= max_chars {
                out.push('…');
                return out;
            }
            // Writing to a String cannot fail.
            let _ = write!(out, "\\x{b:02x}");
            shown += 1;
        }
    }
    out
}

/// Escapes a `str` that came from outside (for example a node name from the config
/// file, which could hold control characters) without cutting it.
pub fn escape_str(s: &str) -> String {
    if s.chars().all(|c| !needs_escape(c)) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_char(&mut out, c);
    }
    out
}

/// A short hex dump of the first bytes, for replies that are not text at all.
pub fn hex_preview(bytes: &[u8], max_bytes: usize) -> String {
    let mut out = String::with_capacity(max_bytes * 3 + 4);
    for (i, b) in bytes.iter().take(max_bytes).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{b:02x}");
    }
    if bytes.len() > max_bytes {
        out.push_str(" …");
    }
    out
}

fn needs_escape(c: char) -> bool {
    // C0, DEL and C1 controls can all drive a terminal (C1 0x9b is a one-byte CSI).
    // Bidi overrides can make a line read differently from what it holds.
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_char(out: &mut String, c: char) {
    if !needs_escape(c) {
        out.push(c);
        return;
    }
    let code = c as u32;
    if code <= 0xff {
        let _ = write!(out, "\\x{code:02x}");
    } else {
        let _ = write!(out, "\\u{{{code:x}}}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_sequences_are_escaped() {
        assert_eq!(escape(b"\x1b[2J\x07ok\x08", 48), "\\x1b[2J\\x07ok\\x08");
        assert_eq!(escape("\u{9b}31m".as_bytes(), 48), "\\x9b31m");
        assert_eq!(escape(b"\x1b]0;title\x07", 48), "\\x1b]0;title\\x07");
        assert_eq!(escape(b"a\r\nb\0", 48), "a\\x0d\\x0ab\\x00");
    }

    #[test]
    fn invalid_utf8_is_shown_as_hex_escapes() {
        assert_eq!(escape(b"ab\xff\xfecd", 48), "ab\\xff\\xfecd");
    }

    #[test]
    fn long_text_is_cut_with_ellipsis() {
        assert_eq!(escape(b"abcdefgh", 5), "abcde…");
        assert_eq!(escape(b"abcde", 5), "abcde");
    }

    #[test]
    fn escape_str_keeps_clean_text_and_escapes_bidi() {
        assert_eq!(escape_str("wall-01 ünï"), "wall-01 ünï");
        assert_eq!(escape_str("a\u{202e}b"), "a\\u{202e}b");
    }

    #[test]
    fn hex_preview_is_bounded() {
        assert_eq!(hex_preview(&[0xff, 0x00, 0x41], 8), "ff 00 41");
        assert_eq!(hex_preview(&[1, 2, 3, 4], 2), "01 02 …");
    }
}
