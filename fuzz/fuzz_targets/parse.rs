//! Fuzz target: report XML straight into the parser (`parse_all`), the
//! path every stored report takes.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dmarcdb::parse::parse_all(data);
});
