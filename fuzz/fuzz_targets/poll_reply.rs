//! Poll-reply decoder: any bytes, in any chunks, never panic; a complete decode
//! never claims more bytes than it was given; previews are printable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncguard_fleet::protocol::{Decode, ReplyDecoder, decode_reply};

fuzz_target!(|data: &[u8]| {
    if let Decode::Complete { consumed, .. } = decode_reply(data) {
        assert!(consumed <= data.len());
    }
    // The first byte picks a chunk size, so splits are explored too.
    let (step, rest) = match data.split_first() {
        Some((s, r)) => ((*s as usize % 16) + 1, r),
        None => (1, data),
    };
    let mut dec = ReplyDecoder::new();
    let mut fed = 0;
    for chunk in rest.chunks(step) {
        fed += chunk.len();
        match dec.feed(chunk) {
            Decode::Incomplete => {}
            Decode::Complete { consumed, .. } => {
                assert!(consumed <= fed);
                break;
            }
            Decode::Invalid(why) => {
                assert!(!why.to_string().chars().any(|c| c.is_control()));
                break;
            }
        }
    }
    if let Some(why) = dec.at_eof() {
        assert!(!why.to_string().chars().any(|c| c.is_control()));
    }
});
