//! The test helpers shared with the integration tests: an MMDB writer and
//! a private dnsmasq.

#[path = "../../tests/support/dnsmasq.rs"]
pub mod dnsmasq;
#[path = "../../tests/support/mmdb.rs"]
pub mod mmdb;
