//! Fuzz target: SMTP TLS report JSON (`parse::tls::parse_tls`): the caps
//! scan, serde_json and the lenient field reading.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dmarcdb::parse::tls::parse_tls(data);
});
