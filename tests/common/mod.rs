//! Helpers shared by the integration tests. Each test binary uses a
//! different part of them, hence the allow.
#![allow(dead_code)]

pub mod both;
pub mod browser;
pub mod cli;
pub mod corpus;
pub mod dovecot;
pub mod introspect;
pub mod mail;
pub mod pages;
pub mod postgres;
pub mod proxy;
pub mod smtp;
