//! Fuzz target: any blob through extraction (sniffing, gzip, zip, mail,
//! nesting), then every payload it yields through the streaming parser, as
//! `ingest` does minus the database.
//!
//! The decompression cap is lowered to 16 MiB so that anything allocating
//! beyond the cap (not merely up to it) shows up under `-rss_limit_mb=512`.

#![no_main]

use dmarcdb::extract::{extract, Limits, PayloadKind};
use dmarcdb::parse::ReportReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_decompressed: 16 * 1024 * 1024,
        ..Limits::default()
    };
    let found = extract("fuzz", data, &limits);
    for payload in &found.payloads {
        match payload.kind {
            PayloadKind::Aggregate => {
                let mut reader = ReportReader::new(payload.reader(&limits));
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
