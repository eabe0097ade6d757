//! Config loader: any text never panics, and every error names the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncguard_fleet::config::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match Config::parse(text, "fuzz.toml") {
            Ok(c) => assert!(!c.nodes.is_empty()),
            Err(e) => assert!(e.to_string().starts_with("fuzz.toml")),
        }
    }
});
