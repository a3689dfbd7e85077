//! Text markup: HTML, SVG and other XML. A browser would render or run these, so they are named
//! even though every one of them is refused.

use crate::sniff::Detected;

const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// Element names that make a browser sniff a document as HTML; a root element with one of these
/// names is HTML whatever else the document says.
const HTML_ELEMENTS: &[&[u8]] = &[
    b"html",
    b"head",
    b"body",
    b"script",
    b"iframe",
    b"frame",
    b"frameset",
    b"object",
    b"embed",
    b"h1",
    b"div",
    b"font",
    b"table",
    b"a",
    b"style",
    b"title",
    b"b",
    b"br",
    b"p",
    b"meta",
    b"link",
    b"base",
    b"img",
    b"form",
    b"template",
];

/// `None` when the head does not start with markup (after a UTF-8 byte order mark and ASCII
/// white space). Matching ignores ASCII case, as browsers do.
pub(super) fn sniff(head: &[u8]) -> Option<Detected> {
    let mut text = skip_space(head.strip_prefix(UTF8_BOM).unwrap_or(head));
    if !text.starts_with(b"<") {
        return None;
    }
    let mut prolog = Prolog::default();
    // Walks the prolog (declarations, comments, doctype) to the root element, which decides.
    // Every turn consumes at least one construct or returns.
    loop {
        text = skip_space(text);
        if text.starts_with(b"<?") {
            prolog.xml |= starts_ignoring_case(text, b"<?xml");
            text = after(text, b"?>");
        } else if text.starts_with(b"<!--") {
            prolog.comment = true;
            text = after(text, b"-->");
        } else if starts_ignoring_case(text, b"<!doctype") {
            let name = name_at(skip_space(text.get(9..).unwrap_or_default()));
            if name.eq_ignore_ascii_case(b"html") {
                return Some(Detected::Html);
            }
            if name.eq_ignore_ascii_case(b"svg") {
                return Some(Detected::Svg);
            }
            prolog.xml = true;
            text = after(text, b">");
        } else if let Some(rest) = text.strip_prefix(b"<") {
            return root_element(rest).or_else(|| prolog.fallback());
        } else {
            return prolog.fallback();
        }
        if text.is_empty() {
            return prolog.fallback();
        }
    }
}

/// What the prolog seen so far says, for when the root element is out of sight.
#[derive(Default)]
struct Prolog {
    xml: bool,
    comment: bool,
}

impl Prolog {
    fn fallback(&self) -> Option<Detected> {
        if self.xml {
            Some(Detected::Xml)
        } else if self.comment {
            // Browsers render a document that opens with a comment as HTML.
            Some(Detected::Html)
        } else {
            None
        }
    }
}

/// Decides from the root element's name (`rest` follows its `<`). A namespace prefix is
/// ignored, so `<svg:svg>` is SVG.
fn root_element(rest: &[u8]) -> Option<Detected> {
    let name = name_at(rest);
    let terminated = match rest.get(name.len()) {
        None => true,
        Some(&byte) => byte.is_ascii_whitespace() || byte == b'>' || byte == b'/',
    };
    if !terminated || !name.first().is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let local = name.rsplit(|&b| b == b':').next().unwrap_or(name);
    if local.eq_ignore_ascii_case(b"svg") {
        Some(Detected::Svg)
    } else if HTML_ELEMENTS
        .iter()
        .any(|html| local.eq_ignore_ascii_case(html))
    {
        Some(Detected::Html)
    } else {
        Some(Detected::Xml)
    }
}

/// The element or doctype name at the start of `text`.
fn name_at(text: &[u8]) -> &[u8] {
    let len = text
        .iter()
        .take_while(|&&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'))
        .count();
    text.get(..len).unwrap_or_default()
}

fn skip_space(text: &[u8]) -> &[u8] {
    let len = text.iter().take_while(|b| b.is_ascii_whitespace()).count();
    text.get(len..).unwrap_or_default()
}

fn starts_ignoring_case(text: &[u8], prefix: &[u8]) -> bool {
    text.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// The text after the first `end`; empty when `end` is not in sight, which ends the walk.
fn after<'a>(text: &'a [u8], end: &[u8]) -> &'a [u8] {
    text.windows(end.len())
        .position(|window| window == end)
        .and_then(|at| text.get(at + end.len()..))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_in_any_case_after_a_bom_and_space() {
        assert_eq!(
            sniff(b"\xEF\xBB\xBF \r\n\t<!DocType HTML><html>"),
            Some(Detected::Html)
        );
        assert_eq!(sniff(b"<ScRiPt>alert(1)</script>"), Some(Detected::Html));
        assert_eq!(sniff(b"<br/>"), Some(Detected::Html));
        assert_eq!(sniff(b"<!-- hi --><p>"), Some(Detected::Html));
        assert_eq!(sniff(b"<!-- an endless comment"), Some(Detected::Html));
    }

    #[test]
    fn svg_with_or_without_a_declaration() {
        assert_eq!(sniff(b"<svg xmlns='x'/>"), Some(Detected::Svg));
        assert_eq!(sniff(b"<SVG>"), Some(Detected::Svg));
        let declared = b"<?xml version=\"1.0\"?>\n<!-- made by hand -->\n<svg:svg xmlns:svg='x'>";
        assert_eq!(sniff(declared), Some(Detected::Svg));
        let doctype = b"<?xml version=\"1.0\"?><!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\">";
        assert_eq!(sniff(doctype), Some(Detected::Svg));
    }

    #[test]
    fn other_xml() {
        assert_eq!(sniff(b"<?xml version='1.0'?><rss>"), Some(Detected::Xml));
        assert_eq!(sniff(b"<?xml version='1.0'?>"), Some(Detected::Xml));
        assert_eq!(sniff(b"<?xml version='1.0'?><html>"), Some(Detected::Html));
        assert_eq!(
            sniff(b"<!DOCTYPE plist><plist version='1.0'>"),
            Some(Detected::Xml)
        );
    }

    #[test]
    fn not_markup() {
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"hello <html>"), None);
        assert_eq!(sniff(b"<svgfoo>"), Some(Detected::Xml));
        assert_eq!(sniff(b"<<<"), None);
        assert_eq!(sniff(b"< html>"), None);
        assert_eq!(sniff(b"<?"), None);
    }
}
