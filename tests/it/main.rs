//! Integration tests: HTTP against a Labelbook server on an ephemeral port (see `common`), one module per area.
//! One test binary rather than one per file: after an edit in the library, only one test executable is linked.

mod common;
#[path = "../../conformance/google/emulator.rs"]
mod emulator;

mod admin;
mod api;
mod api_history;
mod api_more;
mod architecture;
mod cli;
mod combined;
mod corpus;
mod dav;
mod duplicates;
mod durability;
mod events;
mod failures;
mod google;
mod groups;
mod hardening;
mod hidden;
mod history;
mod imports;
mod invites;
mod live;
mod mail;
mod polling;
mod push;
mod session;
mod sharing;
mod store;
mod tls;
mod transfer;
mod trash;
