//! Property tests of the decoders, the line reader, the escaper and the config
//! loader: no input panics, a complete decode never claims more than it was given,
//! and however a valid stream is split, the result is the same.

use proptest::prelude::*;

use syncguard_fleet::config::Config;
use syncguard_fleet::protocol::text;
use syncguard_fleet::protocol::{Decode, LineReader, ReplyDecoder, decode_reply, parse_push_line};

/// A valid poll reply with optional leading whitespace and terminator.
fn valid_reply() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just("Synced".to_owned()),
        Just("Free".to_owned()),
        (0u8..=9).prop_map(|d| format!("unknown_state{d}")),
        (any::<[u8; 4]>(), 0u8..=9)
            .prop_map(|(ip, d)| format!("{}.{}.{}.{}_state{d}", ip[0], ip[1], ip[2], ip[3])),
    ];
    let lead = prop::collection::vec(
        prop_oneof![Just(b' '), Just(b'\t'), Just(b'\r'), Just(b'\n'), Just(0u8)],
        0..4,
    );
    let term = prop_oneof![
        Just(&b""[..]),
        Just(&b"\r"[..]),
        Just(&b"\n"[..]),
        Just(&b"\r\n"[..]),
        Just(&b"\0"[..])
    ];
    (lead, token, term)
        .prop_map(|(lead, token, term)| [lead, token.into_bytes(), term.to_vec()].concat())
}

/// Cut points for splitting `len` bytes into chunks.
fn cuts(len: usize, mut points: Vec<usize>) -> Vec<usize> {
    points.iter_mut().for_each(|p| *p %= len + 1);
    points.push(0);
    points.push(len);
    points.sort_unstable();
    points.dedup();
    points
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_reply_bytes_panic_and_complete_never_overreaches(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        match decode_reply(&bytes) {
            Decode::Complete { consumed, .. } => prop_assert!(consumed <= bytes.len()),
            Decode::Invalid(why) => {
                let shown = why.to_string();
                prop_assert!(!shown.chars().any(|c| c.is_control()), "control character in {shown:?}");
            }
            Decode::Incomplete => prop_assert!(bytes.len() < 256),
        }
        let mut dec = ReplyDecoder::new();
        let _ = dec.feed(&bytes);
        let _ = dec.at_eof();
    }

    #[test]
    fn any_split_of_a_valid_reply_gives_the_same_reply(msg in valid_reply(), points in prop::collection::vec(any::<usize>(), 0..8)) {
        let whole = decode_reply(&msg);
        let Decode::Complete { reply: want, consumed } = whole else {
            return Err(TestCaseError::fail(format!("{msg:?} did not decode: {whole:?}")));
        };
        prop_assert!(consumed <= msg.len());
        let mut dec = ReplyDecoder::new();
        let cut = cuts(msg.len(), points);
        let mut got = None;
        for w in cut.windows(2) {
            match dec.feed(&msg[w[0]..w[1]]) {
                Decode::Incomplete => continue,
                Decode::Complete { reply, consumed } => {
                    prop_assert!(consumed <= w[1]);
                    got = Some(reply);
                    break;
                }
                other => return Err(TestCaseError::fail(format!("{msg:?} split {cut:?}: {other:?}"))),
            }
        }
        prop_assert_eq!(got, Some(want));
    }

    #[test]
    fn any_split_of_a_push_stream_gives_the_same_lines(
        lines in prop::collection::vec(prop_oneof![
            (any::<[u8; 4]>(), 0u8..=9).prop_map(|(ip, d)| format!("{}.{}.{}.{}_state{d}", ip[0], ip[1], ip[2], ip[3]).into_bytes()),
            Just(b"unknown_state0".to_vec()),
            prop::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..300),
        ], 0..12),
        crlf in any::<bool>(),
        points in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let term: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let stream: Vec<u8> = lines.iter().flat_map(|l| l.iter().chain(term.iter()).copied()).collect();
        // The lines, and whether the reader gave up on an overlong unfinished line.
        let run = |chunks: &[&[u8]]| {
            let mut r = LineReader::new();
            let mut out = Vec::new();
            for c in chunks {
                if r.feed(c, |l| out.push(l)).is_err() {
                    return (out, true);
                }
            }
            (out, false)
        };
        let (whole, whole_overflow) = run(&[&stream]);
        // Every line is terminated, so the unsplit stream never ends unfinished.
        prop_assert!(!whole_overflow);
        let cut = cuts(stream.len(), points);
        let chunks: Vec<&[u8]> = cut.windows(2).map(|w| &stream[w[0]..w[1]]).collect();
        let (split, overflow) = run(&chunks);
        if overflow {
            // An overflow ends the connection at an overlong line: every line before
            // it agrees, and the unsplit reader rejected that same line as too long.
            let n = split.len();
            prop_assert!(n < whole.len(), "split {split:?} whole {whole:?}");
            prop_assert_eq!(&whole[..n], &split[..]);
            prop_assert!(
                matches!(whole[n], Err(syncguard_fleet::protocol::InvalidLine::TooLong(_))),
                "the overflow is at {:?}", whole[n]
            );
        } else {
            prop_assert_eq!(&whole, &split);
        }
        for l in whole.iter().flatten() {
            prop_assert!(l.code <= 9);
        }
    }

    #[test]
    fn no_push_line_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        match parse_push_line(&bytes) {
            Ok(l) => prop_assert!(l.code <= 9),
            Err(e) => prop_assert!(!e.to_string().chars().any(|c| c.is_control())),
        }
    }

    #[test]
    fn escaped_text_has_no_control_characters(bytes in prop::collection::vec(any::<u8>(), 0..300), max in 1usize..100) {
        let s = text::escape(&bytes, max);
        prop_assert!(!s.chars().any(|c| c.is_control()));
        prop_assert!(s.chars().filter(|c| *c != '…').count() <= max * 4);
    }

    #[test]
    fn no_config_text_panics(text in "\\PC{0,400}") {
        let _ = Config::parse(&text, "fuzz.toml");
    }

    #[test]
    fn mutated_valid_configs_never_panic(cut in 0usize..400, insert in "[\\[\\]=\"a-z0-9_. \n]{0,12}") {
        let base = "[defaults]\nport = 8080\ninterval = \"5s\"\n[listen]\nbind = [\"127.0.0.1:9000\"]\n\
                    [[node]]\nname = \"a\"\nhost = \"10.0.0.1\"\nmode = \"push\"\ngroup = \"g\"\n\
                    [[node]]\nname = \"b\"\nhost = \"b.example\"\nport = 9\n";
        let at = base.char_indices().map(|(i, _)| i).nth(cut % base.chars().count()).unwrap_or(0);
        let text = format!("{}{}{}", &base[..at], insert, &base[at..]);
        match Config::parse(&text, "m.toml") {
            Ok(c) => prop_assert!(!c.nodes.is_empty()),
            Err(e) => prop_assert!(e.to_string().starts_with("m.toml")),
        }
    }
}
