//! The WebDAV request parser: any body either parses into a bounded tree or is refused, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(root) = labelbook::dav::xml::parse(data) {
        let _ = root.to_xml();
        let _ = labelbook::dav::filter::parse(&root);
    }
});
