//! Labelbook: a self-hosted shared-contacts server. See ARCHITECTURE.md for the map.

pub mod api;
pub mod app;
pub mod bridge;
pub mod clock;
pub mod config;
pub mod dav;
pub mod http;
pub mod mail;
pub mod memo;
pub mod push;
pub mod response;
pub mod service;
pub mod store;
pub mod vcard;
pub mod web;
