//! Fuzz target: failure report mail (`parse::arf::parse_arf`): ARF fields,
//! the text-only fallback, the reported message's headers. A header line is
//! put in front so mail-parser always finds a header.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut mail = b"X-Fuzz: 1\r\n".to_vec();
    mail.extend_from_slice(data);
    let _ = dmarcdb::parse::arf::parse_arf(&mail);
});
