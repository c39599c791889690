//! Fuzzes the parser alone (JSON or YAML text to a canonical request):
//! no panic, hang or OOM, and every rejection is coded and explained.

#![no_main]

use libfuzzer_sys::fuzz_target;
use netswitch_model::parse::parse_request;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = parse_request(data) {
        assert!(
            [21, 22, 23, 24, 25, 26, 27].contains(&e.code()),
            "code {} from the parser: {e}",
            e.code()
        );
        assert!(!e.reason.is_empty(), "empty reason: {e:?}");
    }
});
