//! Push-line parser and line reader: any stream, in any chunks, never panics, never
//! buffers more than one line, and splitting does not change the lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncguard_fleet::protocol::{LineReader, MAX_LINE_BYTES, parse_push_line};

fuzz_target!(|data: &[u8]| {
    if let Ok(l) = parse_push_line(data) {
        assert!(l.code <= 9);
    }
    let (step, rest) = match data.split_first() {
        Some((s, r)) => ((*s as usize % 32) + 1, r),
        None => (1, data),
    };
    let mut whole = Vec::new();
    let mut r = LineReader::new();
    let whole_ok = r.feed(rest, |l| whole.push(l)).is_ok();
    let mut split = Vec::new();
    let mut r = LineReader::new();
    let mut split_ok = true;
    for chunk in rest.chunks(step) {
        if r.feed(chunk, |l| split.push(l)).is_err() {
            split_ok = false;
            break;
        }
        assert!(r.pending() <= MAX_LINE_BYTES + 1);
    }
    if whole_ok && split_ok {
        assert_eq!(whole, split);
    }
});
