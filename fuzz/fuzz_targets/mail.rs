//! Fuzz target: extraction of reports from RFC 822 mail (MIME structure,
//! transfer encodings, attachments holding gzip/zip/XML). A header line is
//! put in front so every input is sniffed as a mail and the fuzzer spends
//! its time inside the MIME code rather than rediscovering "this is mail".

#![no_main]

use dmarcdb::extract::{extract, Limits, PayloadKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_decompressed: 16 * 1024 * 1024,
        ..Limits::default()
    };
    let mut mail = b"X-Fuzz: 1\r\n".to_vec();
    mail.extend_from_slice(data);
    let found = extract("fuzz.eml", &mail, &limits);
    for payload in &found.payloads {
        match payload.kind {
            PayloadKind::Aggregate => {
                let mut reader = dmarcdb::parse::ReportReader::new(payload.reader(&limits));
                if reader.header().is_ok() {
                    while let Ok(Some(_)) = reader.next_record() {}
                }
            }
            PayloadKind::Tls => {
                let _ = dmarcdb::parse::tls::read_tls(payload.reader(&limits));
            }
            PayloadKind::Failure => {
                let _ = dmarcdb::parse::arf::parse_arf(&payload.data);
            }
        }
    }
});
