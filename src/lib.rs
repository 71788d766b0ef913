//! dmarcdb: DMARC aggregate report analyzer; also keeps SMTP TLS reports
//! (RFC 8460) and DMARC failure reports (RFC 6591).
//!
//! The modules follow the pipeline, one stage each:
//!
//! - [`source`]: where inputs come from (files, stdin, Maildir, mbox, IMAP) and
//!   how they are acknowledged once committed;
//! - [`extract`]: sniff a blob by content and unpack gzip / zip / MIME down to
//!   report payloads (aggregate XML, TLS JSON, failure report mail), within
//!   size and depth caps;
//! - [`parse`]: stream report XML (quick-xml) into the [`model`] types, and
//!   read TLS reports ([`parse::tls`]) and failure reports ([`parse::arf`]);
//! - [`store`]: the SQLite file, one transaction per report, quarantine;
//! - [`ingest`]: drives source → extract → parse → store → ack and counts outcomes;
//! - [`reparse`]: rebuilds stored reports from their original bytes and
//!   retries the quarantine;
//! - [`query`]: SQL views over the store, returning rows;
//! - [`render`]: rows as a table, CSV or JSON;
//! - [`alert`]: rows → problems → exit code, and [`notify`] to send them;
//! - [`untrusted`]: how outside text is shown (terminal escapes, CSV formulas).
//!
//! `cli` holds the command-line definitions; `main.rs` only calls [`cli::run`].

pub mod alert;
pub mod cli;
pub mod config;
pub mod copy;
pub mod enrich;
pub mod exit;
pub mod extract;
pub mod generate;
pub mod ingest;
pub mod mail;
pub mod model;
pub mod notify;
pub mod overview;
pub mod page;
pub mod parse;
pub mod query;
pub mod render;
pub mod reparse;
pub mod serve;
pub mod site;
pub mod source;
pub mod store;
pub mod tls_verify;
pub mod untrusted;

/// Where the shared real-world corpus is, for unit tests that read it: the
/// same helper the integration tests use.
#[cfg(test)]
#[path = "../tests/common/corpus.rs"]
mod test_corpus;
