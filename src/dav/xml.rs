//! Request XML → a small element tree (bounded depth and size, no DTD, no entities beyond the five predefined and
//! character references), and the writer helpers multistatus responses are built with.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use std::fmt;

pub const DAV: &str = "DAV:";
pub const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
pub const CS: &str = "http://calendarserver.org/ns/";
/// WebDAV-Push (draft-bitfire-webdav-push).
pub const PUSH: &str = crate::push::NS;
/// The namespace the `xml:` prefix is always bound to (Namespaces in XML 1.0 §3).
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

const MAX_DEPTH: usize = 32;
const MAX_ELEMENTS: usize = 200_000;
/// WebDAV elements carry a handful of attributes; like elements, they are bounded, so a body cannot become
/// millions of kept strings. (quick-xml bounds namespace declarations in scope itself, at 128.)
const MAX_ATTRIBUTES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub ns: String,
    pub name: String,
    /// Attributes by local name (DAV request attributes are never namespaced).
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(pub String);

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed XML: {}", self.0)
    }
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    pub fn children_named<'a>(&'a self, ns: &'a str, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The element as a dead property's value: its `xml:lang`, or the one in force where it was written (an
    /// ancestor's, RFC 4918 §4.3), kept on it.
    pub fn to_xml_in(&self, lang: Option<&str>) -> String {
        match lang {
            Some(l) if self.attr("xml:lang").is_none() => {
                let mut el = self.clone();
                el.attrs.push(("xml:lang".to_string(), l.to_string()));
                el.to_xml()
            }
            _ => self.to_xml(),
        }
    }

    /// Serialises the element again (for dead properties), declaring each namespace where it changes.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write_into(&mut out, None);
        out
    }

    fn write_into(&self, out: &mut String, parent_ns: Option<&str>) {
        out.push('<');
        out.push_str(&self.name);
        if parent_ns != Some(self.ns.as_str()) {
            out.push_str(" xmlns=\"");
            out.push_str(&escape(&self.ns));
            out.push('"');
        }
        for (k, v) in &self.attrs {
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            out.push_str(&escape(v));
            out.push('"');
        }
        if self.children.is_empty() && self.text.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        out.push_str(&escape(&self.text));
        for c in &self.children {
            c.write_into(out, Some(&self.ns));
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

fn resolve_ns(r: &ResolveResult<'_>) -> Result<String, XmlError> {
    match r {
        ResolveResult::Bound(ns) => Ok(ns.as_ref().to_string()),
        ResolveResult::Unbound => Ok(String::new()),
        ResolveResult::Unknown(p) => Err(XmlError(format!("undeclared namespace prefix '{p}'"))),
    }
}

fn predefined_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

/// Parses a request body into its root element.
pub fn parse(body: &[u8]) -> Result<Element, XmlError> {
    let text = std::str::from_utf8(body).map_err(|_| XmlError("the body is not UTF-8".into()))?;
    let mut reader = NsReader::from_reader(text.as_bytes());
    reader.config_mut().trim_text(false);
    let mut buf = Vec::new();
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let (ns, event) = reader.read_resolved_event_into(&mut buf).map_err(|e| XmlError(e.to_string()))?;
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                let is_empty = matches!(event, Event::Empty(_));
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError(format!("more than {MAX_ELEMENTS} elements")));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError(format!("nested deeper than {MAX_DEPTH} levels")));
                }
                if root.is_some() {
                    return Err(XmlError("content after the root element".into()));
                }
                let ns = resolve_ns(&ns)?;
                let name = start.local_name().as_ref().to_string();
                let mut attrs = Vec::new();
                for (n, a) in start.attributes().enumerate() {
                    if n >= MAX_ATTRIBUTES {
                        return Err(XmlError(format!("more than {MAX_ATTRIBUTES} attributes on one element")));
                    }
                    let a = a.map_err(|e| XmlError(e.to_string()))?;
                    let key = a.key.as_ref();
                    if key == "xmlns" || key.starts_with("xmlns:") {
                        continue;
                    }
                    let (attr_ns, local) = reader.resolver().resolve_attribute(a.key);
                    let value =
                        a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| XmlError(e.to_string()))?;
                    // `xml:lang` and `xml:space` keep their prefix (always bound), so a dead property written back
                    // still says its language (RFC 4918 §4.3).
                    let name = match attr_ns {
                        ResolveResult::Bound(n) if n.as_ref() == XML_NS => format!("xml:{}", local.as_ref()),
                        _ => local.as_ref().to_string(),
                    };
                    attrs.push((name, value.into_owned()));
                }
                let el = Element { ns, name, attrs, children: Vec::new(), text: String::new() };
                if is_empty {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(el),
                        None => root = Some(el),
                    }
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| XmlError("unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(XmlError("text outside the root element".into())),
                }
            }
            Event::CData(t) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let c = if r.is_char_ref() {
                    r.resolve_char_ref().map_err(|e| XmlError(e.to_string()))?
                } else {
                    predefined_entity(&r.xml10_content())
                };
                let c = c.ok_or_else(|| XmlError("entity references are not allowed".into()))?;
                if let Some(el) = stack.last_mut() {
                    el.text.push(c);
                }
            }
            Event::DocType(_) => return Err(XmlError("DTDs are not allowed".into())),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err(XmlError("unexpected end of document".into()));
    }
    let root = root.ok_or_else(|| XmlError("empty document".into()))?;
    trim_whitespace(root)
}

/// Whitespace between child elements is formatting, not content.
fn trim_whitespace(mut el: Element) -> Result<Element, XmlError> {
    if !el.children.is_empty() && el.text.trim().is_empty() {
        el.text.clear();
    }
    el.children = el.children.into_iter().map(trim_whitespace).collect::<Result<_, _>>()?;
    Ok(el)
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            // XML 1.0 §2.2: no other control character may appear, not even as a reference. A card holding one
            // (stored before cards were checked for them, or by a path that missed the check) must not make the
            // whole multistatus unreadable, which would stop the book's sync: it reads as U+FFFD instead.
            '\t' | '\n' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            _ => out.push(c),
        }
    }
    out
}

/// The prefix our responses bind a namespace to, if it is one of ours.
pub fn prefix(ns: &str) -> Option<&'static str> {
    match ns {
        DAV => Some("d"),
        CARDDAV => Some("card"),
        CS => Some("cs"),
        PUSH => Some("P"),
        _ => None,
    }
}

/// Root attributes that bind our prefixes.
pub const NS_DECLS: &str = "xmlns:d=\"DAV:\" xmlns:card=\"urn:ietf:params:xml:ns:carddav\" \
     xmlns:cs=\"http://calendarserver.org/ns/\" xmlns:P=\"https://bitfire.at/webdav-push\"";

/// `<prefix:name>` or, for a foreign namespace, `<x:name xmlns:x="...">`; with `inner` the element's content.
pub fn element(ns: &str, name: &str, inner: Option<&str>) -> String {
    let (open, close) = match prefix(ns) {
        Some(p) => (format!("{p}:{name}"), format!("{p}:{name}")),
        None if ns.is_empty() => (format!("{name} xmlns=\"\""), name.to_string()),
        None => (format!("x:{name} xmlns:x=\"{}\"", escape(ns)), format!("x:{name}")),
    };
    match inner {
        Some(i) if !i.is_empty() => format!("<{open}>{i}</{close}>"),
        _ => format!("<{open}/>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_text_is_always_well_formed_xml() {
        let raw = "a\u{1}b\u{0}c\td\ne\u{1b}f\u{FFFF}<&>\r";
        let text = escape(raw);
        assert!(!text.chars().any(|c| c.is_control() && c != '\t' && c != '\n'), "{text:?}");
        assert_eq!(text.matches('\u{FFFD}').count(), 4);
        assert!(text.contains("\td\ne") && text.ends_with("&lt;&amp;&gt;&#13;"));
        let back = parse(format!("<a xmlns=\"DAV:\">{text}</a>").as_bytes()).unwrap();
        assert_eq!(back.text, raw.replace(['\u{1}', '\u{0}', '\u{1b}', '\u{FFFF}'], "\u{FFFD}"));
    }

    #[test]
    fn attributes_and_namespace_declarations_are_bounded() {
        let many: String = (0..65).map(|i| format!(" a{i}=\"v\"")).collect();
        let e = parse(format!("<D:propfind xmlns:D=\"DAV:\"{many}/>").as_bytes()).unwrap_err();
        assert!(e.0.contains("64 attributes"), "{e:?}");
        let ok: String = (0..60).map(|i| format!(" a{i}=\"v\"")).collect();
        assert!(parse(format!("<D:propfind xmlns:D=\"DAV:\"{ok}/>").as_bytes()).is_ok());
        let decls: String = (0..200).map(|i| format!(" xmlns:p{i}=\"u{i}\"")).collect();
        assert!(parse(format!("<D:propfind xmlns:D=\"DAV:\"{decls}/>").as_bytes()).is_err());
    }

    #[test]
    fn parses_namespaces_and_text() {
        let body = br#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
          <D:prop><D:displayname/><C:address-data content-type="text/vcard" version="4.0"/><x:foo xmlns:x="urn:x">a &amp; b &#65;</x:foo></D:prop></D:propfind>"#;
        let root = parse(body).unwrap();
        assert!(root.is(DAV, "propfind"));
        let prop = root.child(DAV, "prop").unwrap();
        assert_eq!(prop.children.len(), 3);
        assert!(prop.children[1].is(CARDDAV, "address-data"));
        assert_eq!(prop.children[1].attr("version"), Some("4.0"));
        assert_eq!(prop.children[2].ns, "urn:x");
        assert_eq!(prop.children[2].text, "a & b A");
        assert_eq!(prop.children[2].to_xml(), "<foo xmlns=\"urn:x\">a &amp; b A</foo>");
    }

    #[test]
    fn refuses_bad_documents() {
        assert!(parse(b"<D:propfind xmlns:D=\"DAV:\"><D:prop>").is_err());
        assert!(parse(b"<X:propfind/>").unwrap_err().0.contains("undeclared"));
        assert!(parse(b"<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>").is_err());
        assert!(parse(b"<x>&a;</x>").unwrap_err().0.contains("entity"));
        assert!(parse(b"").is_err());
        assert!(parse(b"<a/><b/>").is_err());
        let deep = format!("{}{}", "<a>".repeat(40), "</a>".repeat(40));
        assert!(parse(deep.as_bytes()).unwrap_err().0.contains("deeper"));
        assert!(parse(b"<a>\xff</a>").is_err());
    }

    #[test]
    fn writes_foreign_namespaces_inline() {
        assert_eq!(element(DAV, "getetag", Some("\"x\"")), "<d:getetag>\"x\"</d:getetag>");
        assert_eq!(element("urn:x", "foo", None), "<x:foo xmlns:x=\"urn:x\"/>");
        assert_eq!(escape("<a&\">"), "&lt;a&amp;&quot;&gt;");
    }
}
