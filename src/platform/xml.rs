//! The XML of pushes: the envelope (`<xml><AppId|ToUserName/><Encrypt/></xml>`)
//! and the decrypted message, both read into one flat map of field names to
//! their text (CDATA or plain text, exactly as sent).
//!
//! Read with `roxmltree`, which refuses any DTD (so no entity can expand: no
//! billion laughs, no external entity) and parses nesting without recursion.
//! The body, the node count and the depth are bounded before anything else
//! looks at them. A field that comes twice is refused rather than picked:
//! two `Encrypt` elements mean a forged or broken push.

use std::collections::BTreeMap;

use crate::text;

/// The largest body taken (real pushes are a few kB).
pub const MAX_BODY: usize = 64 * 1024;

/// The most XML nodes (elements, text, comments) taken.
pub const MAX_NODES: u32 = 1024;

/// The deepest element taken: `<xml>` is 1, its fields 2. Some messages nest
/// one object (`notify_third_fasteregister`'s `info`): its fields are named
/// `info/name`.
pub const MAX_DEPTH: usize = 3;

/// The fields of one message or query string: names (`Encrypt`, `InfoType`,
/// `info/name`) to text.
pub type Fields = BTreeMap<String, String>;

/// Why a body is refused. Names it quotes are clipped and shown escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("XML body of {0} bytes is larger than {MAX_BODY}")]
    TooLarge(usize),
    #[error("XML body is not UTF-8")]
    NotUtf8,
    #[error("XML body has a DOCTYPE: WeChat sends none")]
    Dtd,
    #[error("XML body has more than {MAX_NODES} nodes")]
    TooManyNodes,
    #[error("XML body nests deeper than {MAX_DEPTH} elements")]
    TooDeep,
    /// Not well-formed: roxmltree's description, with the position.
    #[error("XML body is not well-formed: {}", text::clip(.0, 200))]
    Malformed(String),
    /// The root element is not `<xml>`.
    #[error("XML root element is <{}>, not <xml>", text::clip(.0, 40))]
    Root(String),
    /// A field comes twice.
    #[error("XML field <{}> comes more than once", text::clip(.0, 40))]
    Duplicate(String),
}

/// Reads a push body or a decrypted message into its fields.
pub fn parse(body: &[u8]) -> Result<Fields, XmlError> {
    if body.len() > MAX_BODY {
        return Err(XmlError::TooLarge(body.len()));
    }
    let body = std::str::from_utf8(body).map_err(|_| XmlError::NotUtf8)?;
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        entity_resolver: None,
    };
    let doc = roxmltree::Document::parse_with_options(body, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => XmlError::Dtd,
        roxmltree::Error::NodesLimitReached => XmlError::TooManyNodes,
        e => XmlError::Malformed(e.to_string()),
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "xml" || root.tag_name().namespace().is_some() {
        return Err(XmlError::Root(root.tag_name().name().to_string()));
    }
    let mut fields = Fields::new();
    // (element, its field name, its depth); an explicit stack, not recursion.
    let mut todo: Vec<(roxmltree::Node, String, usize)> = root
        .children()
        .filter(roxmltree::Node::is_element)
        .map(|n| (n, n.tag_name().name().to_string(), 2))
        .collect();
    while let Some((node, name, depth)) = todo.pop() {
        if depth > MAX_DEPTH {
            return Err(XmlError::TooDeep);
        }
        let before = todo.len();
        todo.extend(
            (node.children().filter(roxmltree::Node::is_element))
                .map(|c| (c, format!("{name}/{}", c.tag_name().name()), depth + 1)),
        );
        if todo.len() > before {
            continue;
        }
        let value: String = node.children().filter_map(|c| c.text()).collect();
        if fields.contains_key(&name) {
            return Err(XmlError::Duplicate(name));
        }
        fields.insert(name, value);
    }
    Ok(fields)
}

#[cfg(test)]
mod tests;
