//! Enrich: who is behind a source IP, from facts outside the reports —
//! network facts ([`geo`]: AS number, AS name, country from MaxMind-format
//! databases; [`rdns`]: reverse DNS confirmed forward), the names of the
//! services that send mail ([`catalogue`]), which failing mail was
//! forwarded ([`forwarding`]), and whether a domain can enforce its
//! policy ([`readiness`]).
//!
//! Everything here is pure or talks to files and DNS only; what it
//! learns is kept by the store (`store::netfacts`) apart from the reports,
//! so it can be recomputed at any time without touching them.

pub mod catalogue;
pub mod forwarding;
pub mod geo;
pub mod rdns;
pub mod readiness;
pub mod run;
pub mod senders;

#[cfg(test)]
mod test_support;
