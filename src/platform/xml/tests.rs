use super::*;

fn ok(body: &str) -> Fields {
    parse(body.as_bytes()).unwrap()
}

#[test]
fn an_open_platform_envelope() {
    let f = ok(
        "<xml>\n  <AppId><![CDATA[wx134c8103faa5a59e]]></AppId>\n  <Encrypt><![CDATA[D7yz+/Mg==]]></Encrypt>\n</xml>",
    );
    assert_eq!(f.len(), 2);
    assert_eq!(f["AppId"], "wx134c8103faa5a59e");
    assert_eq!(f["Encrypt"], "D7yz+/Mg==");
}

#[test]
fn a_wecom_envelope_with_an_empty_agent_id() {
    let f = ok(
        "<xml><ToUserName><![CDATA[ww4asffe99e54c0f]]></ToUserName><Encrypt><![CDATA[abc=]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>",
    );
    assert_eq!(f["ToUserName"], "ww4asffe99e54c0f");
    assert_eq!(f["AgentID"], "");
}

#[test]
fn the_v1_and_v2_messages() {
    let v1 = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n<FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName>\n<CreateTime>1715943329</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[debug_demo]]></Event>\n<debug_str><![CDATA[hello world]]></debug_str>\n</xml>";
    let f = ok(v1);
    assert_eq!(f["CreateTime"], "1715943329");
    assert_eq!(f["Event"], "debug_demo");
    assert_eq!(f["debug_str"], "hello world");
    assert_eq!(f.len(), 6);
    let v2 = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>";
    let f = ok(v2);
    assert_eq!(f["AgentID"], "218");
    assert_eq!(f["Content"], "hello");
}

#[test]
fn a_verify_ticket_and_a_suite_ticket() {
    let f = ok(
        "<xml><AppId>wx1</AppId><CreateTime>1413192605</CreateTime><InfoType>component_verify_ticket</InfoType><ComponentVerifyTicket>ticket@@@a&amp;b&lt;c</ComponentVerifyTicket></xml>",
    );
    assert_eq!(f["InfoType"], "component_verify_ticket");
    assert_eq!(f["ComponentVerifyTicket"], "ticket@@@a&b<c");
    let f = ok(
        "<xml><SuiteId><![CDATA[ww4asffe99e54c0fxxxx]]></SuiteId>\n<InfoType><![CDATA[suite_ticket]]></InfoType>\n<TimeStamp>1403610513</TimeStamp>\n<SuiteTicket><![CDATA[asdfasfdasdfasdf]]></SuiteTicket></xml>",
    );
    assert_eq!(f["SuiteTicket"], "asdfasfdasdfasdf");
}

#[test]
fn one_nested_object_is_flattened() {
    let f = ok(
        "<xml><appid>wx1</appid><status>0</status><info><name><![CDATA[shop]]></name><code>123</code></info></xml>",
    );
    assert_eq!(f["info/name"], "shop");
    assert_eq!(f["info/code"], "123");
    assert!(!f.contains_key("info"));
    assert_eq!(
        parse(b"<xml><a><b><c>1</c></b></a></xml>").unwrap_err(),
        XmlError::TooDeep
    );
}

#[test]
fn a_doctype_is_refused_so_no_entity_expands() {
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<xml><Encrypt>&lol9;</Encrypt></xml>"#;
    assert_eq!(parse(laughs.as_bytes()).unwrap_err(), XmlError::Dtd);
    let external = r#"<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Encrypt>&x;</Encrypt></xml>"#;
    assert_eq!(parse(external.as_bytes()).unwrap_err(), XmlError::Dtd);
    // Without a DTD, an unknown entity is just malformed.
    assert!(matches!(
        parse(b"<xml><Encrypt>&x;</Encrypt></xml>").unwrap_err(),
        XmlError::Malformed(_)
    ));
}

#[test]
fn large_wide_and_deep_bodies_are_refused() {
    let big = format!("<xml><Encrypt>{}</Encrypt></xml>", "A".repeat(MAX_BODY));
    assert_eq!(
        parse(big.as_bytes()).unwrap_err(),
        XmlError::TooLarge(big.len())
    );
    let wide = format!("<xml>{}</xml>", "<a/>".repeat(2000));
    assert_eq!(parse(wide.as_bytes()).unwrap_err(), XmlError::TooManyNodes);
    // Deep nesting within the size bound: refused, without recursion.
    let deep = format!("{}{}", "<a>".repeat(5000), "</a>".repeat(5000));
    let err = parse(format!("<xml>{deep}</xml>").as_bytes()).unwrap_err();
    assert!(
        matches!(err, XmlError::TooManyNodes | XmlError::TooDeep),
        "{err:?}"
    );
}

#[test]
fn malformed_bodies_say_why() {
    for body in [
        "",
        "success",
        "<xml><Encrypt>abc</xml>",
        "<xml><Encrypt>abc</Encrypt>",
        // The documentation's own typo: closed with <xml>.
        "<xml><AppId>wx1</AppId><xml>",
        "<xml></xml><xml></xml>",
    ] {
        let err = parse(body.as_bytes()).unwrap_err();
        assert!(matches!(err, XmlError::Malformed(_)), "{body:?}: {err:?}");
        assert!(err.to_string().starts_with("XML body is not well-formed"));
    }
    assert_eq!(parse(b"<xml>\xff</xml>").unwrap_err(), XmlError::NotUtf8);
    assert_eq!(
        parse(b"<envelope><Encrypt>a</Encrypt></envelope>").unwrap_err(),
        XmlError::Root("envelope".into())
    );
}

#[test]
fn a_field_that_comes_twice_is_refused() {
    let err = parse(b"<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt></xml>").unwrap_err();
    assert_eq!(err, XmlError::Duplicate("Encrypt".into()));
    assert_eq!(err.to_string(), "XML field <Encrypt> comes more than once");
    let err = parse(b"<xml><info><a>1</a><a>2</a></info></xml>").unwrap_err();
    assert_eq!(err, XmlError::Duplicate("info/a".into()));
}

#[test]
fn hostile_names_are_shown_escaped() {
    let err = parse("<x\u{202e}y/>".as_bytes()).unwrap_err();
    assert!(!err.to_string().contains('\u{202e}'), "{err}");
}

proptest::proptest! {
    #[test]
    fn arbitrary_input_never_panics(s in ".{0,300}") {
        let _ = parse(s.as_bytes());
        let _ = parse(format!("<xml>{s}</xml>").as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        let _ = parse(&b);
    }
}
