//! Pure decoders for the SyncGuard wire format: poll replies (`Synced`, `Free`,
//! `<ipv4>_state<d>`) and push lines. No IO here; callers own sockets and buffers.
//!
//! Framing on the poll side is loose (no length prefix, optional terminator), so the
//! decoder works on whatever bytes have arrived and says `Incomplete` until one whole,
//! exact token is present. Exact tokens only: `NotSynced` is not `Synced`.

use std::fmt;
use std::net::Ipv4Addr;

pub mod text;

use serde::Serialize;

/// The most bytes a poll reply may occupy (leading whitespace included) before it is
/// declared invalid. The longest valid reply is 21 bytes; this bounds memory per node.
pub const MAX_REPLY_BYTES: usize = 256;

/// The most bytes a push line may hold, terminator excluded.
pub const MAX_LINE_BYTES: usize = 256;

/// Position in a Quadro Sync chain, from the `state<d>` digit a node writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Role {
    Master,
    Slave,
    Error,
    Unknown,
}

impl Role {
    pub fn from_code(code: u8) -> Role {
        match code {
            2 => Role::Master,
            1 => Role::Slave,
            0 => Role::Error,
            _ => Role::Unknown,
        }
    }

    pub fn is_healthy(self) -> bool {
        matches!(self, Role::Master | Role::Slave)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "Master",
            Role::Slave => "Slave",
            Role::Error => "Error",
            Role::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a state token says it is: the IPv4 the node wrote, or `unknown` when the node
/// could not find its own address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReportedIp {
    V4(Ipv4Addr),
    Unknown,
}

impl fmt::Display for ReportedIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportedIp::V4(ip) => write!(f, "{ip}"),
            ReportedIp::Unknown => f.write_str("unknown"),
        }
    }
}

/// One complete, valid answer from a SyncGuard node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    Synced,
    Free,
    /// The internal form `<ipv4>_state<d>` / `unknown_state<d>`.
    State {
        reported: ReportedIp,
        code: u8,
    },
}

impl Reply {
    /// In frame lock: `Synced`, or a Master / Slave state code.
    pub fn is_healthy(&self) -> bool {
        match self {
            Reply::Synced => true,
            Reply::Free => false,
            Reply::State { code, .. } => Role::from_code(*code).is_healthy(),
        }
    }

    pub fn code(&self) -> Option<u8> {
        match self {
            Reply::State { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub fn role(&self) -> Option<Role> {
        self.code().map(Role::from_code)
    }

    pub fn reported_ip(&self) -> Option<ReportedIp> {
        match self {
            Reply::State { reported, .. } => Some(*reported),
            _ => None,
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Synced => f.write_str("Synced"),
            Reply::Free => f.write_str("Free"),
            Reply::State { reported, code } => write!(f, "{reported}_state{code}"),
        }
    }
}

/// Why bytes from a node were not a valid reply. Every variant carries an escaped
/// preview, so it can be printed anywhere as is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvalidReply {
    /// Bytes that can never become a valid token, e.g. `NotSynced` or an HTTP page.
    Unexpected(String),
    /// More than [`MAX_REPLY_BYTES`] without a complete token (a flood).
    TooLong(String),
    /// Bytes that are not UTF-8 text; the preview is hex.
    NotUtf8(String),
    /// The peer closed the connection in the middle of a token.
    Truncated(String),
}

impl fmt::Display for InvalidReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidReply::Unexpected(p) => write!(f, "invalid reply \"{p}\""),
            InvalidReply::TooLong(p) => {
                write!(f, "reply exceeds {MAX_REPLY_BYTES} bytes: \"{p}\"")
            }
            InvalidReply::NotUtf8(hex) => write!(f, "non-UTF-8 reply: {hex}"),
            InvalidReply::Truncated(p) => write!(f, "connection closed mid-reply after \"{p}\""),
        }
    }
}

/// The result of looking at the bytes received so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decode {
    /// Every byte so far is the start of a valid reply: read more.
    Incomplete,
    /// A whole token; `consumed` counts the bytes it used, leading whitespace and one
    /// optional terminator (CR, LF, CRLF or NUL) included. It never exceeds the input.
    Complete { reply: Reply, consumed: usize },
    /// The bytes can never become a valid reply.
    Invalid(InvalidReply),
}

fn is_leading_ws(b: u8) -> bool {
    // NUL is skipped too: a NUL terminator left over from the previous reply on a
    // persistent connection must not poison the next one.
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\0')
}

/// Decodes a poll reply from the bytes received so far. Pure: the caller keeps the
/// buffer and calls again with more bytes on `Incomplete`.
pub fn decode_reply(buf: &[u8]) -> Decode {
    let start = buf.iter().position(|&b| !is_leading_ws(b));
    let Some(start) = start else {
        return too_long_or_incomplete(buf, 0);
    };
    let body = &buf[start..];
    match match_token(body) {
        Match::Partial => too_long_or_incomplete(buf, start),
        Match::Mismatch => Decode::Invalid(unexpected(body)),
        Match::Done(reply, len) => {
            let mut consumed = start + len;
            match body.get(len) {
                None => {}
                Some(b'\n') | Some(b'\0') => consumed += 1,
                Some(b'\r') => {
                    consumed += 1;
                    if body.get(len + 1) == Some(&b'\n') {
                        consumed += 1;
                    }
                }
                Some(_) => return Decode::Invalid(unexpected(body)),
            }
            Decode::Complete { reply, consumed }
        }
    }
}

/// What to report when the peer closed the connection with `buf` still undecided.
/// `None` means nothing but whitespace arrived.
pub fn decode_at_eof(buf: &[u8]) -> Option<InvalidReply> {
    let start = buf.iter().position(|&b| !is_leading_ws(b))?;
    let body = &buf[start..];
    Some(match decode_reply(buf) {
        Decode::Invalid(why) => why,
        _ => match std::str::from_utf8(body) {
            Ok(_) => InvalidReply::Truncated(text::escape(body, text::PREVIEW_CHARS)),
            Err(_) => InvalidReply::NotUtf8(text::hex_preview(body, 16)),
        },
    })
}

fn too_long_or_incomplete(buf: &[u8], start: usize) -> Decode {
    if buf.len() >= MAX_REPLY_BYTES {
        let body = &buf[start..];
        Decode::Invalid(InvalidReply::TooLong(text::escape(
            body,
            text::PREVIEW_CHARS,
        )))
    } else {
        Decode::Incomplete
    }
}

fn unexpected(body: &[u8]) -> InvalidReply {
    // Preview only the first line: an HTTP error page should read as its status line.
    let line_end = body
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .unwrap_or(body.len());
    let line = &body[..line_end.max(1).min(body.len())];
    match std::str::from_utf8(line) {
        Ok(_) => InvalidReply::Unexpected(text::escape(line, text::PREVIEW_CHARS)),
        Err(e) if e.valid_up_to() > 0 && e.error_len().is_none() => {
            // Only a multi-byte character cut at the end of the read.
            InvalidReply::Unexpected(text::escape(line, text::PREVIEW_CHARS))
        }
        Err(_) => InvalidReply::NotUtf8(text::hex_preview(line, 16)),
    }
}

enum Match {
    Partial,
    Mismatch,
    Done(Reply, usize),
}

fn match_literal(body: &[u8], lit: &[u8], reply: Reply) -> Match {
    if body.len() < lit.len() {
        if lit.starts_with(body) {
            Match::Partial
        } else {
            Match::Mismatch
        }
    } else if body.starts_with(lit) {
        Match::Done(reply, lit.len())
    } else {
        Match::Mismatch
    }
}

fn match_token(body: &[u8]) -> Match {
    match body.first() {
        Some(b'S') => match_literal(body, b"Synced", Reply::Synced),
        Some(b'F') => match_literal(body, b"Free", Reply::Free),
        Some(_) => match_state(body),
        None => Match::Partial,
    }
}

const UNKNOWN: &[u8] = b"unknown";
const STATE: &[u8] = b"_state";
/// `255.255.255.255`
const MAX_IPV4_CHARS: usize = 15;

/// Matches `<ipv4>_state<d>` or `unknown_state<d>` at the start of `body`.
fn match_state(body: &[u8]) -> Match {
    let host_end = body
        .iter()
        .take(MAX_IPV4_CHARS + 1)
        .position(|&b| b == b'_');
    let Some(host_end) = host_end else {
        // No `_` yet: the host part must still be a plausible prefix.
        let plausible = if body.first().is_some_and(u8::is_ascii_digit) {
            body.len() <= MAX_IPV4_CHARS && body.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        } else {
            body.len() <= UNKNOWN.len() && UNKNOWN.starts_with(body)
        };
        return if plausible {
            Match::Partial
        } else {
            Match::Mismatch
        };
    };
    let host = &body[..host_end];
    let reported = if host == UNKNOWN {
        ReportedIp::Unknown
    } else {
        match parse_ipv4(host) {
            Some(ip) => ReportedIp::V4(ip),
            None => return Match::Mismatch,
        }
    };
    let rest = &body[host_end..];
    if rest.len() <= STATE.len() {
        return if STATE.starts_with(rest) {
            Match::Partial
        } else {
            Match::Mismatch
        };
    }
    if !rest.starts_with(STATE) {
        return Match::Mismatch;
    }
    let digit = rest[STATE.len()];
    if !digit.is_ascii_digit() {
        return Match::Mismatch;
    }
    Match::Done(
        Reply::State {
            reported,
            code: digit - b'0',
        },
        host_end + STATE.len() + 1,
    )
}

fn parse_ipv4(host: &[u8]) -> Option<Ipv4Addr> {
    // The std parser is strict (four decimal octets, no leading zeros), which is
    // what SyncGuard writes; anything looser is not its format.
    std::str::from_utf8(host).ok()?.parse().ok()
}

/// An incremental wrapper around [`decode_reply`] with a bounded, reusable buffer.
/// One lives per poller, so a healthy poll allocates nothing.
#[derive(Debug, Default)]
pub struct ReplyDecoder {
    buf: Vec<u8>,
}

impl ReplyDecoder {
    pub fn new() -> Self {
        ReplyDecoder {
            buf: Vec::with_capacity(64),
        }
    }

    /// Adds bytes and decodes. Bytes beyond the cap are not kept: the answer is
    /// then `TooLong`, so a flood never grows the buffer.
    pub fn feed(&mut self, bytes: &[u8]) -> Decode {
        let room = MAX_REPLY_BYTES.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
        decode_reply(&self.buf)
    }

    /// The peer closed the connection; see [`decode_at_eof`].
    pub fn at_eof(&self) -> Option<InvalidReply> {
        decode_at_eof(&self.buf)
    }

    /// True when nothing but whitespace has arrived since the last reset.
    pub fn is_blank(&self) -> bool {
        self.buf.iter().all(|&b| is_leading_ws(b))
    }

    pub fn reset(&mut self) {
        self.buf.clear();
    }
}

/// One push line from a SyncGuard V3 sender, e.g. `192.168.0.201_state2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PushLine {
    pub reported: ReportedIp,
    pub code: u8,
}

impl PushLine {
    pub fn reply(&self) -> Reply {
        Reply::State {
            reported: self.reported,
            code: self.code,
        }
    }
}

/// Why a push line was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvalidLine {
    TooLong(String),
    Malformed(String),
}

impl fmt::Display for InvalidLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidLine::TooLong(p) => write!(f, "line exceeds {MAX_LINE_BYTES} bytes: \"{p}\""),
            InvalidLine::Malformed(p) => write!(f, "invalid line \"{p}\""),
        }
    }
}

/// Parses one push line. `line` is what came before the LF; one trailing CR is
/// dropped. The line must be exactly one state token.
pub fn parse_push_line(line: &[u8]) -> Result<PushLine, InvalidLine> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > MAX_LINE_BYTES {
        return Err(InvalidLine::TooLong(text::escape(
            line,
            text::PREVIEW_CHARS,
        )));
    }
    match match_state(line) {
        Match::Done(Reply::State { reported, code }, len) if len == line.len() => {
            Ok(PushLine { reported, code })
        }
        _ => Err(InvalidLine::Malformed(text::escape(
            line,
            text::PREVIEW_CHARS,
        ))),
    }
}

/// Splits a push connection's byte stream into lines (LF or CRLF) and parses each.
/// Holds at most one partial line, so memory per connection stays bounded.
#[derive(Debug, Default)]
pub struct LineReader {
    partial: Vec<u8>,
}

/// The connection sent more than [`MAX_LINE_BYTES`] without a newline; the
/// preview is escaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overflow(pub InvalidLine);

impl LineReader {
    pub fn new() -> Self {
        LineReader::default()
    }

    /// Feeds bytes; calls `on_line` for every complete line (blank lines are
    /// skipped: they carry nothing). Returns `Err` when the unterminated rest is
    /// already too long to ever be a valid line.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        mut on_line: impl FnMut(Result<PushLine, InvalidLine>),
    ) -> Result<(), Overflow> {
        let mut rest = bytes;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let part = &rest[..pos];
            rest = &rest[pos + 1..];
            if self.partial.is_empty() {
                Self::line(part, &mut on_line);
            } else {
                // Decide "too long" on the full length, as the unsplit path does,
                // without copying a long line into the buffer first.
                if self.partial.len() + part.len() > MAX_LINE_BYTES + 1 {
                    // The same preview as the unsplit path: the line's first
                    // characters (4 bytes each at most).
                    let mut head = self.partial.clone();
                    let want = 4 * text::PREVIEW_CHARS;
                    head.extend_from_slice(
                        &part[..part.len().min(want.saturating_sub(head.len()))],
                    );
                    on_line(Err(InvalidLine::TooLong(text::escape(
                        &head,
                        text::PREVIEW_CHARS,
                    ))));
                } else {
                    self.partial.extend_from_slice(part);
                    Self::line(&self.partial, &mut on_line);
                }
                self.partial.clear();
            }
        }
        // One CR may precede the LF that has not arrived yet.
        if self.partial.len() + rest.len() > MAX_LINE_BYTES + 1 {
            let mut preview = std::mem::take(&mut self.partial);
            preview.extend_from_slice(&rest[..rest.len().min(64)]);
            return Err(Overflow(InvalidLine::TooLong(text::escape(
                &preview,
                text::PREVIEW_CHARS,
            ))));
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    /// Bytes of a line begun but not finished.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    fn line(line: &[u8], on_line: &mut impl FnMut(Result<PushLine, InvalidLine>)) {
        // parse_push_line drops the one CR of a CRLF itself; stripping here too would
        // accept `\r\r` and make split and unsplit input disagree.
        if !matches!(line, b"" | b"\r") {
            on_line(parse_push_line(line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &[(&[u8], Reply)] = &[
        (b"Synced", Reply::Synced),
        (b"Free", Reply::Free),
        (
            b"192.168.0.201_state2",
            Reply::State {
                reported: ReportedIp::V4(Ipv4Addr::new(192, 168, 0, 201)),
                code: 2,
            },
        ),
        (
            b"10.0.0.1_state1",
            Reply::State {
                reported: ReportedIp::V4(Ipv4Addr::new(10, 0, 0, 1)),
                code: 1,
            },
        ),
        (
            b"255.255.255.255_state0",
            Reply::State {
                reported: ReportedIp::V4(Ipv4Addr::new(255, 255, 255, 255)),
                code: 0,
            },
        ),
        (
            b"unknown_state0",
            Reply::State {
                reported: ReportedIp::Unknown,
                code: 0,
            },
        ),
        (
            b"1.2.3.4_state9",
            Reply::State {
                reported: ReportedIp::V4(Ipv4Addr::new(1, 2, 3, 4)),
                code: 9,
            },
        ),
    ];

    const TERMINATORS: &[&[u8]] = &[b"", b"\r", b"\n", b"\r\n", b"\0"];
    const LEADING: &[&[u8]] = &[b"", b" ", b"\r\n", b"\t \0"];

    /// Feeds `msg` split at every set of cut points given by `mask` bits and returns
    /// the first non-incomplete answer, plus the number of bytes fed by then.
    fn feed_split(msg: &[u8], mask: u64) -> (Decode, usize) {
        let mut dec = ReplyDecoder::new();
        let mut start = 0;
        for i in 1..=msg.len() {
            let cut = i == msg.len() || mask & (1 << (i - 1)) != 0;
            if cut {
                let d = dec.feed(&msg[start..i]);
                if d != Decode::Incomplete {
                    return (d, i);
                }
                start = i;
            }
        }
        (Decode::Incomplete, msg.len())
    }

    fn check_split(msg: &[u8], mask: u64, min_consumed: usize, want: &Reply) {
        let (got, fed) = feed_split(msg, mask);
        match got {
            Decode::Complete { reply, consumed } => {
                assert_eq!(reply, *want, "msg {msg:?} mask {mask:b}");
                assert!(consumed <= fed, "consumed more than was fed");
                assert!(consumed >= min_consumed, "msg {msg:?} consumed {consumed}");
            }
            other => panic!("msg {msg:?} mask {mask:b}: {other:?}"),
        }
    }

    #[test]
    fn every_split_of_every_valid_reply_decodes_the_same() {
        for (token, want) in VALID {
            for lead in LEADING {
                for term in TERMINATORS {
                    let msg = [*lead, *token, *term].concat();
                    // Every prefix: a reply is incomplete until the token is whole
                    // and complete from then on, whatever arrives in the same read.
                    for end in 0..=msg.len() {
                        let d = decode_reply(&msg[..end]);
                        if end < lead.len() + token.len() {
                            assert_eq!(d, Decode::Incomplete, "{msg:?}[..{end}]");
                        } else {
                            assert!(
                                matches!(d, Decode::Complete { reply, .. } if reply == *want),
                                "{msg:?}[..{end}] gave {d:?}"
                            );
                        }
                    }
                    // Every way to cut `msg` into chunks (2^(len-1) of them) for
                    // messages up to 15 bytes; a strided sample of 2^14 beyond that.
                    let ways = 1u64 << (msg.len() - 1);
                    let step = (ways >> 14).max(1);
                    let mut mask = 0u64;
                    while mask < ways {
                        check_split(&msg, mask, lead.len() + token.len(), want);
                        mask += step;
                    }
                    // One byte per read, the slowest drip.
                    check_split(&msg, ways - 1, lead.len() + token.len(), want);
                }
            }
        }
    }

    #[test]
    fn complete_as_soon_as_token_is_whole_without_terminator() {
        let mut dec = ReplyDecoder::new();
        assert_eq!(dec.feed(b"Sync"), Decode::Incomplete);
        assert_eq!(
            dec.feed(b"ed"),
            Decode::Complete {
                reply: Reply::Synced,
                consumed: 6
            }
        );
        let mut dec = ReplyDecoder::new();
        assert_eq!(dec.feed(b"10.1.2.3_state"), Decode::Incomplete);
        assert!(matches!(dec.feed(b"1"), Decode::Complete { .. }));
    }

    #[test]
    fn terminator_is_consumed_but_not_what_follows() {
        assert_eq!(
            decode_reply(b"Synced\r\nFree"),
            Decode::Complete {
                reply: Reply::Synced,
                consumed: 8
            }
        );
        assert_eq!(
            decode_reply(b"  Free\0"),
            Decode::Complete {
                reply: Reply::Free,
                consumed: 7
            }
        );
    }

    fn invalid(buf: &[u8]) -> InvalidReply {
        match decode_reply(buf) {
            Decode::Invalid(why) => why,
            other => panic!("{buf:?} decoded as {other:?}"),
        }
    }

    #[test]
    fn near_misses_are_invalid() {
        assert_eq!(
            invalid(b"NotSynced").to_string(),
            "invalid reply \"NotSynced\""
        );
        for bad in [
            &b"synced"[..],
            b"SYNCED",
            b"Synced!",
            b"SyncedX",
            b"Synced Free",
            b"Freedom",
            b"free",
            b"OK",
            b"192.168.0.201_state",
            b"192.168.0.201_state12",
            b"192.168.0.201_stateX",
            b"192.168.0.256_state1",
            b"192.168.00.1_state1",
            b"1.2.3_state1",
            b"1.2.3.4.5_state1",
            b"unknown_State1",
            b"unknowns_state1",
            b"_state1",
            b"-1.2.3.4_state1",
            b"1234567890123456_state1",
        ] {
            let d = decode_reply(bad);
            // `_state` with nothing after is still waiting for its digit.
            if bad == b"192.168.0.201_state" {
                assert_eq!(d, Decode::Incomplete);
            } else {
                assert!(matches!(d, Decode::Invalid(_)), "{bad:?} gave {d:?}");
            }
        }
    }

    #[test]
    fn http_page_previews_status_line() {
        let page = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n\r\n<html>";
        assert_eq!(
            invalid(page).to_string(),
            "invalid reply \"HTTP/1.1 404 Not Found\""
        );
    }

    #[test]
    fn non_utf8_gets_hex_preview() {
        assert_eq!(
            invalid(b"\xff\xfe\x00S").to_string(),
            "non-UTF-8 reply: ff fe 00 53"
        );
    }

    #[test]
    fn control_bytes_in_preview_are_escaped() {
        let why = invalid(b"\x1b[31mSynced\x07").to_string();
        assert_eq!(why, "invalid reply \"\\x1b[31mSynced\\x07\"");
        assert!(!why.contains('\x1b'));
    }

    #[test]
    fn flood_is_cut_at_cap() {
        let mut dec = ReplyDecoder::new();
        // Whitespace never completes a token; 1 MB of it must end as TooLong while the
        // buffer stays at the cap.
        let flood = vec![b' '; 1 << 20];
        match dec.feed(&flood) {
            Decode::Invalid(InvalidReply::TooLong(_)) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(dec.buf.len(), MAX_REPLY_BYTES);
        assert!(dec.buf.capacity() < 4 * MAX_REPLY_BYTES);
        // A long run of digits and dots is rejected as soon as it cannot be an IPv4.
        assert!(matches!(
            decode_reply(&[b'1'; 40]),
            Decode::Invalid(InvalidReply::Unexpected(_))
        ));
    }

    #[test]
    fn eof_mid_token_is_truncated_and_blank_eof_is_none() {
        assert_eq!(decode_at_eof(b" \r\n"), None);
        assert_eq!(
            decode_at_eof(b"Syn").map(|e| e.to_string()),
            Some("connection closed mid-reply after \"Syn\"".into())
        );
        assert_eq!(
            decode_at_eof(b"Nope").map(|e| e.to_string()),
            Some("invalid reply \"Nope\"".into())
        );
    }

    #[test]
    fn reply_meaning() {
        let st = |code| Reply::State {
            reported: ReportedIp::Unknown,
            code,
        };
        assert!(Reply::Synced.is_healthy());
        assert!(!Reply::Free.is_healthy());
        assert!(st(2).is_healthy());
        assert_eq!(st(2).role(), Some(Role::Master));
        assert!(st(1).is_healthy());
        assert_eq!(st(1).role(), Some(Role::Slave));
        assert!(!st(0).is_healthy());
        assert_eq!(st(0).role(), Some(Role::Error));
        for code in 3..=9 {
            assert!(!st(code).is_healthy());
            assert_eq!(st(code).role(), Some(Role::Unknown));
        }
        assert_eq!(Reply::Synced.role(), None);
        assert_eq!(st(2).to_string(), "unknown_state2");
    }

    #[test]
    fn push_lines() {
        assert_eq!(
            parse_push_line(b"192.168.0.201_state2\r"),
            Ok(PushLine {
                reported: ReportedIp::V4(Ipv4Addr::new(192, 168, 0, 201)),
                code: 2
            })
        );
        assert_eq!(
            parse_push_line(b"unknown_state0"),
            Ok(PushLine {
                reported: ReportedIp::Unknown,
                code: 0
            })
        );
        for bad in [
            &b"Synced"[..],
            b"",
            b"192.168.0.201_state",
            b"192.168.0.201_state22",
            b"192.168.0.201_state2 ",
            b" 192.168.0.201_state2",
            b"192.168.0.201_state2\r\r",
            b"\xff\xfe",
        ] {
            assert!(
                matches!(parse_push_line(bad), Err(InvalidLine::Malformed(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_push_line(&[b'1'; 300]),
            Err(InvalidLine::TooLong(_))
        ));
    }

    fn read_all(chunks: &[&[u8]]) -> (Vec<Result<PushLine, InvalidLine>>, Result<(), Overflow>) {
        let mut r = LineReader::new();
        let mut lines = Vec::new();
        for c in chunks {
            if let Err(e) = r.feed(c, |l| lines.push(l)) {
                return (lines, Err(e));
            }
        }
        (lines, Ok(()))
    }

    #[test]
    fn every_split_of_push_lines_gives_the_same_lines() {
        let stream: &[u8] =
            b"192.168.0.201_state2\r\n192.168.0.201_state2\r\nunknown_state0\n10.0.0.7_state7\r\n";
        let (want, ok) = read_all(&[stream]);
        assert!(ok.is_ok());
        assert_eq!(want.len(), 4);
        assert_eq!(
            want[3],
            Ok(PushLine {
                reported: ReportedIp::V4(Ipv4Addr::new(10, 0, 0, 7)),
                code: 7
            })
        );
        // Every single cut point and every pair of cut points.
        for a in 0..=stream.len() {
            for b in a..=stream.len() {
                let (got, ok) = read_all(&[&stream[..a], &stream[a..b], &stream[b..]]);
                assert!(ok.is_ok());
                assert_eq!(got, want, "cuts at {a} and {b}");
            }
        }
        // One byte per read.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(read_all(&bytes).0, want);
    }

    #[test]
    fn long_line_is_too_long_however_it_is_split() {
        // Found by fuzzing: 256 bytes and two CRs, split or not, must agree.
        let mut stream = vec![b'9'; 256];
        stream.extend_from_slice(b"\r\r\n");
        let (whole, _) = read_all(&[&stream]);
        for cut in 1..stream.len() {
            let (split, end) = read_all(&[&stream[..cut], &stream[cut..]]);
            // Either the line is reported too long, or the unfinished part already
            // was (258 bytes and no newline yet): never a plain malformed line.
            match end {
                Ok(()) => {
                    assert_eq!(split.len(), 1, "cut {cut}");
                    assert!(
                        matches!(split[0], Err(InvalidLine::TooLong(_))),
                        "cut {cut}: {split:?}"
                    );
                }
                Err(Overflow(InvalidLine::TooLong(_))) => assert!(split.is_empty(), "cut {cut}"),
                Err(other) => panic!("cut {cut}: {other:?}"),
            }
        }
        assert!(matches!(whole[0], Err(InvalidLine::TooLong(_))));
    }

    #[test]
    fn blank_lines_are_skipped_and_bad_lines_reported() {
        let (lines, ok) = read_all(&[b"\r\n\n", b"Synced\r\n1.2.3.4_state1\n"]);
        assert!(ok.is_ok());
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], Err(InvalidLine::Malformed("Synced".into())));
        assert!(lines[1].is_ok());
    }

    #[test]
    fn overlong_line_is_cut_and_reported() {
        // Terminated but too long: an invalid line, the connection may continue.
        let mut long = vec![b'7'; 300];
        long.extend_from_slice(b"\r\n1.2.3.4_state1\r\n");
        let (lines, ok) = read_all(&[&long]);
        assert!(ok.is_ok());
        assert!(matches!(lines[0], Err(InvalidLine::TooLong(_))));
        assert!(lines[1].is_ok());
        // Split over reads, the partial buffer never grows past the cap.
        let mut r = LineReader::new();
        assert!(r.feed(&[b'7'; 200], |_| {}).is_ok());
        let err = r.feed(&[b'7'; 200], |_| {});
        assert!(matches!(err, Err(Overflow(InvalidLine::TooLong(_)))));
        // 1 MiB without a newline ends at once.
        let (_, ok) = read_all(&[&vec![b'x'; 1 << 20]]);
        assert!(ok.is_err());
        // 257 bytes of a line plus CR is still waiting for LF.
        let mut r = LineReader::new();
        assert!(r.feed(&[b'1'; 257], |_| {}).is_ok());
        assert_eq!(r.pending(), 257);
    }
}
