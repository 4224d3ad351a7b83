//! CARDDAV:filter of addressbook-query (RFC 6352 §10.5): parsed from the request, evaluated on parsed cards.

use super::xml::{CARDDAV, Element};
use crate::vcard::{self, VCard};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    AnyOf,
    AllOf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchType {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

/// RFC 4790 collations a CardDAV server must support (RFC 6352 §8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collation {
    Octet,
    AsciiCasemap,
    UnicodeCasemap,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMatch {
    pub text: String,
    pub collation: Collation,
    pub negate: bool,
    pub match_type: MatchType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamFilter {
    pub name: String,
    pub is_not_defined: bool,
    pub text_match: Option<TextMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropFilter {
    pub name: String,
    pub test: Test,
    pub is_not_defined: bool,
    pub text_matches: Vec<TextMatch>,
    pub param_filters: Vec<ParamFilter>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub test: Test,
    pub props: Vec<PropFilter>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterError {
    UnsupportedCollation(String),
    Invalid(String),
}

fn test_attr(el: &Element) -> Result<Test, FilterError> {
    match el.attr("test") {
        None | Some("anyof") => Ok(Test::AnyOf),
        Some("allof") => Ok(Test::AllOf),
        Some(t) => Err(FilterError::Invalid(format!("test=\"{t}\" is not anyof or allof"))),
    }
}

fn text_match(el: &Element) -> Result<TextMatch, FilterError> {
    let collation = match el.attr("collation").unwrap_or("i;unicode-casemap") {
        "i;unicode-casemap" => Collation::UnicodeCasemap,
        "i;ascii-casemap" => Collation::AsciiCasemap,
        "i;octet" => Collation::Octet,
        c => return Err(FilterError::UnsupportedCollation(c.to_string())),
    };
    let match_type = match el.attr("match-type").unwrap_or("contains") {
        "equals" => MatchType::Equals,
        "contains" => MatchType::Contains,
        "starts-with" => MatchType::StartsWith,
        "ends-with" => MatchType::EndsWith,
        m => {
            return Err(FilterError::Invalid(format!("match-type=\"{m}\" is not supported")));
        }
    };
    let negate = match el.attr("negate-condition").unwrap_or("no") {
        "yes" => true,
        "no" => false,
        n => {
            return Err(FilterError::Invalid(format!("negate-condition=\"{n}\" is not yes or no")));
        }
    };
    Ok(TextMatch { text: el.text.clone(), collation, negate, match_type })
}

pub fn parse(filter: &Element) -> Result<Filter, FilterError> {
    let mut props = Vec::new();
    for pf in &filter.children {
        if !pf.is(CARDDAV, "prop-filter") {
            return Err(FilterError::Invalid(format!("unexpected <{}> in filter", pf.name)));
        }
        let name = pf
            .attr("name")
            .ok_or_else(|| FilterError::Invalid("prop-filter needs a name".into()))?
            .to_ascii_uppercase();
        let mut f = PropFilter {
            name,
            test: test_attr(pf)?,
            is_not_defined: pf.child(CARDDAV, "is-not-defined").is_some(),
            text_matches: Vec::new(),
            param_filters: Vec::new(),
        };
        for c in &pf.children {
            if c.is(CARDDAV, "text-match") {
                f.text_matches.push(text_match(c)?);
            } else if c.is(CARDDAV, "param-filter") {
                let name = c
                    .attr("name")
                    .ok_or_else(|| FilterError::Invalid("param-filter needs a name".into()))?
                    .to_ascii_uppercase();
                let tm = c.child(CARDDAV, "text-match").map(text_match).transpose()?;
                f.param_filters.push(ParamFilter {
                    name,
                    is_not_defined: c.child(CARDDAV, "is-not-defined").is_some(),
                    text_match: tm,
                });
            }
        }
        props.push(f);
    }
    Ok(Filter { test: test_attr(filter)?, props })
}

impl TextMatch {
    fn matches(&self, value: &str) -> bool {
        let (v, t) = match self.collation {
            Collation::Octet => (value.to_string(), self.text.clone()),
            Collation::AsciiCasemap => (value.to_ascii_lowercase(), self.text.to_ascii_lowercase()),
            Collation::UnicodeCasemap => (vcard::fold(value), vcard::fold(&self.text)),
        };
        let hit = match self.match_type {
            MatchType::Equals => v == t,
            MatchType::Contains => v.contains(&t),
            MatchType::StartsWith => v.starts_with(&t),
            MatchType::EndsWith => v.ends_with(&t),
        };
        hit != self.negate
    }
}

fn combine(test: Test, results: impl Iterator<Item = bool>) -> bool {
    let mut results = results.peekable();
    if results.peek().is_none() {
        return true;
    }
    match test {
        Test::AnyOf => results.into_iter().any(|r| r),
        Test::AllOf => results.into_iter().all(|r| r),
    }
}

impl PropFilter {
    fn matches(&self, card: &VCard) -> bool {
        let props: Vec<&vcard::Property> = card.props.iter().filter(|p| p.name == self.name).collect();
        if self.is_not_defined {
            return props.is_empty();
        }
        if props.is_empty() {
            return false;
        }
        let texts =
            self.text_matches.iter().map(|tm| props.iter().any(|p| tm.matches(&vcard::unescape_text(&p.value))));
        let params = self.param_filters.iter().map(|pf| {
            props.iter().any(|p| {
                let values: Vec<&String> =
                    p.params.iter().filter(|x| x.name == pf.name).flat_map(|x| x.values.iter()).collect();
                if pf.is_not_defined {
                    return values.is_empty();
                }
                match &pf.text_match {
                    None => !values.is_empty(),
                    Some(tm) => values.iter().any(|v| tm.matches(v)),
                }
            })
        });
        combine(self.test, texts.chain(params))
    }
}

impl Filter {
    pub fn matches(&self, card: &VCard) -> bool {
        combine(self.test, self.props.iter().map(|p| p.matches(card)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dav::xml;

    fn card() -> VCard {
        vcard::parse(b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:1\r\nFN:Cyrus Daboo\r\nN:Daboo;Cyrus;;;\r\nEMAIL;TYPE=WORK:cyrus@example.com\r\nNICKNAME:me\r\nEND:VCARD\r\n").unwrap()
    }

    fn filter(x: &str) -> Filter {
        let el = xml::parse(format!("<C:filter xmlns:C=\"urn:ietf:params:xml:ns:carddav\" {x}</C:filter>").as_bytes())
            .unwrap();
        parse(&el).unwrap()
    }

    // RFC 6352 §8.6.4: anyof NICKNAME equals "me" or EMAIL contains "example.com".
    #[test]
    fn rfc_6352_8_6_4_anyof() {
        let f = filter(
            r#"test="anyof"><C:prop-filter name="NICKNAME"><C:text-match collation="i;unicode-casemap" match-type="equals">me</C:text-match></C:prop-filter><C:prop-filter name="EMAIL"><C:text-match collation="i;unicode-casemap" match-type="contains">example.com</C:text-match></C:prop-filter>"#,
        );
        assert!(f.matches(&card()));
    }

    // RFC 6352 §8.6.5: allof with a failing branch.
    #[test]
    fn rfc_6352_8_6_5_allof_and_param_filters() {
        let f = filter(
            r#"test="allof"><C:prop-filter name="FN"><C:text-match match-type="starts-with">cyrus</C:text-match></C:prop-filter><C:prop-filter name="EMAIL"><C:param-filter name="TYPE"><C:text-match match-type="equals">home</C:text-match></C:param-filter></C:prop-filter>"#,
        );
        assert!(!f.matches(&card()));
        let f = filter(
            r#"test="allof"><C:prop-filter name="EMAIL"><C:param-filter name="TYPE"><C:text-match match-type="equals">WORK</C:text-match></C:param-filter></C:prop-filter><C:prop-filter name="TEL"><C:is-not-defined/></C:prop-filter>"#,
        );
        assert!(f.matches(&card()));
    }

    #[test]
    fn collations_negation_and_errors() {
        assert!(
            !filter(
                r#"><C:prop-filter name="FN"><C:text-match collation="i;octet">cyrus</C:text-match></C:prop-filter>"#
            )
            .matches(&card())
        );
        assert!(filter(r#"><C:prop-filter name="FN"><C:text-match negate-condition="yes">nobody</C:text-match></C:prop-filter>"#).matches(&card()));
        assert!(
            filter(
                r#"><C:prop-filter name="FN"><C:text-match match-type="ends-with">DABOO</C:text-match></C:prop-filter>"#
            )
            .matches(&card())
        );
        let el = xml::parse(br#"<C:filter xmlns:C="urn:ietf:params:xml:ns:carddav"><C:prop-filter name="FN"><C:text-match collation="i;klingon">x</C:text-match></C:prop-filter></C:filter>"#).unwrap();
        assert_eq!(parse(&el), Err(FilterError::UnsupportedCollation("i;klingon".into())));
        assert!(filter(">").matches(&card()));
    }
}
