//! Upstream's answers, classified into an issued value or a failure. Never panics.

use super::{Failure, Issued};

/// The longest lifetime accepted in `expires_in` (WeChat gives at most 7200 s).
pub const MAX_EXPIRES_IN: i64 = 86_400;
/// The longest token or ticket accepted (WeChat asks to reserve 512 characters).
pub const MAX_VALUE_LEN: usize = 2048;
/// The characters of WeChat's tokens and tickets besides ASCII letters and digits.
/// Anything else is refused before it is stored: `show`'s output goes to `eval`.
const VALUE_PUNCTUATION: &[u8] = b"-_.~+/=";

/// Whether `value` can be a token or ticket: only WeChat's alphabet.
pub fn token_alphabet(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || VALUE_PUNCTUATION.contains(&b))
}

/// Turns an upstream answer (its HTTP status and body) into an issued value
/// or a failure. `field` is the JSON key of the value: `access_token` or
/// `ticket`. Never panics.
pub fn classify(status: u16, body: &[u8], field: &str) -> Result<Issued, Failure> {
    let bad = |what: String| Err(Failure::BadResponse(what));
    let top = object(status, body)?;
    // `a.b`: the value and its expires_in are in object `a`.
    let (obj, field) = match field.split_once('.') {
        Some((outer, inner)) => match top.get(outer) {
            Some(serde_json::Value::Object(o)) => (o, inner),
            _ => return bad(format!("no {outer} in the response")),
        },
        None => (&top, field),
    };
    let value = match obj.get(field) {
        Some(serde_json::Value::String(v)) if !v.is_empty() => v,
        Some(serde_json::Value::String(_)) => return bad(format!("empty {field}")),
        Some(_) => return bad(format!("{field} is not a string")),
        None => return bad(format!("no {field} in the response")),
    };
    if value.len() > MAX_VALUE_LEN {
        return bad(format!("{field} longer than {MAX_VALUE_LEN} characters"));
    }
    if !token_alphabet(value) {
        return bad(format!(
            "{field} holds characters a token never has (only letters, digits and -_.~+/= are accepted)"
        ));
    }
    let expires_in = match obj.get("expires_in") {
        Some(v) => match v.as_i64() {
            Some(n) if (1..=MAX_EXPIRES_IN).contains(&n) => n,
            _ => {
                return bad(format!(
                    "expires_in is {v}, not a whole number of seconds from 1 to {MAX_EXPIRES_IN}"
                ));
            }
        },
        None => return bad("no expires_in in the response".to_string()),
    };
    Ok(Issued {
        value: value.clone(),
        expires_in,
        grant: None,
    })
}

/// The JSON object of a successful answer (HTTP 2xx, errcode absent or 0),
/// or the failure it tells.
pub fn object(
    status: u16,
    body: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, Failure> {
    if !(200..300).contains(&status) {
        return Err(Failure::Http { status });
    }
    let bad = |what: String| Err(Failure::BadResponse(what));
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return bad("empty body".to_string());
    }
    let json: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            // Redacted before it is cut: a cut secret would not be recognized.
            let head = &body[..body.len().min(4096)];
            let start = crate::secret::redact(&String::from_utf8_lossy(head));
            let start: String = start.chars().take(40).collect();
            let what = if e.is_eof() {
                "truncated JSON"
            } else {
                "not JSON"
            };
            return bad(format!(
                "{what}, starting {}",
                crate::text::quoted_max(&start, 40)
            ));
        }
    };
    let serde_json::Value::Object(obj) = json else {
        return bad("JSON that is not an object".to_string());
    };
    if let Some(code) = obj.get("errcode") {
        let Some(errcode) = code.as_i64() else {
            return bad(format!("errcode is not an integer: {code}"));
        };
        if errcode != 0 {
            let errmsg = obj.get("errmsg").and_then(|m| m.as_str()).unwrap_or("");
            return Err(Failure::Refused {
                errcode,
                errmsg: errmsg.to_string(),
            });
        }
    }
    Ok(obj)
}

/// The value at `key` of `json` (`a.b`: key `b` of object `a`).
pub fn at<'a>(json: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    key.split('.').try_fold(json, |v, k| v.get(k))
}

/// A bounded text without control characters at `key` of `json` (a
/// customer's long-lived credential in an answer).
pub fn text_at(json: &serde_json::Value, key: Option<&str>) -> Option<String> {
    at(json, key?)
        .and_then(|v| v.as_str())
        .filter(|v| !v.is_empty() && v.len() <= 2048 && !v.chars().any(char::is_control))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Result<Issued, Failure> {
        classify(200, body.as_bytes(), "access_token")
    }

    #[test]
    fn success_needs_a_token_and_a_sane_expiry() {
        assert_eq!(
            ok(r#"{"access_token":"T","expires_in":7200}"#),
            Ok(Issued {
                value: "T".into(),
                expires_in: 7200,
                grant: None,
            })
        );
        assert!(ok(r#"{"errcode":0,"errmsg":"ok","access_token":"T","expires_in":5}"#).is_ok());
        for body in [
            r#"{"access_token":"","expires_in":7200}"#,
            r#"{"access_token":"T"}"#,
            r#"{"access_token":"T","expires_in":0}"#,
            r#"{"access_token":"T","expires_in":-5}"#,
            r#"{"access_token":"T","expires_in":1e12}"#,
            r#"{"access_token":"T","expires_in":"7200"}"#,
            r#"{"access_token":"a b","expires_in":7200}"#,
            r#"{"access_token":"a;b","expires_in":7200}"#,
            r#"{"access_token":"a'b","expires_in":7200}"#,
            r#"{"access_token":"$(id)","expires_in":7200}"#,
            r#"{"access_token":"a\u001bb","expires_in":7200}"#,
            r#"{"access_token":"é","expires_in":7200}"#,
            r#"{"access_token":7,"expires_in":7200}"#,
            r#"[]"#,
            "<html>",
            r#"{"access_token":"T","#,
            "",
        ] {
            assert!(
                matches!(ok(body), Err(Failure::BadResponse(_))),
                "accepted {body}"
            );
        }
    }

    #[test]
    fn values_are_bounded_to_2048_characters_of_the_token_alphabet() {
        let of = |v: &str| ok(&format!(r#"{{"access_token":"{v}","expires_in":7200}}"#));
        let alphabet = "AZaz09-_.~+/=";
        assert_eq!(of(alphabet).unwrap().value, alphabet);
        assert!(of(&"A".repeat(2048)).is_ok());
        assert!(matches!(
            of(&"A".repeat(2049)),
            Err(Failure::BadResponse(_))
        ));
    }

    #[test]
    fn errcodes_are_refusals_and_only_minus_one_is_transient() {
        let f = ok(r#"{"errcode":40164,"errmsg":"invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist rid: 6566"}"#)
            .unwrap_err();
        assert!(!f.transient());
        assert!(
            f.describe(false)
                .contains("add 1.2.3.4 to the IP whitelist"),
            "{}",
            f.describe(false)
        );
        assert!(
            ok(r#"{"errcode":-1,"errmsg":"system error"}"#)
                .unwrap_err()
                .transient()
        );
        assert!(Failure::Http { status: 502 }.transient());
        assert!(!Failure::Http { status: 404 }.transient());
    }
}

/// Property tests of [`classify`]: it never panics, and it never accepts a
/// response without a non-empty token and a sane expiry. Run longer with
/// `PROPTEST_CASES=1000000 cargo test --release classify_`.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// Checks one response: an accepted one must really be a success.
    fn check(status: u16, body: &[u8], field: &str) {
        let Ok(issued) = classify(status, body, field) else {
            return;
        };
        assert!((200..300).contains(&status), "accepted HTTP {status}");
        assert!(!issued.value.is_empty());
        assert!(issued.value.len() <= MAX_VALUE_LEN);
        assert!(
            issued
                .value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~+/=".contains(&b)),
            "accepted {:?}",
            issued.value
        );
        assert!((1..=MAX_EXPIRES_IN).contains(&issued.expires_in));
        let json: serde_json::Value = serde_json::from_slice(body).expect("accepted non-JSON");
        assert_eq!(json[field].as_str(), Some(issued.value.as_str()));
        assert_eq!(json["expires_in"].as_i64(), Some(issued.expires_in));
        assert!(json.get("errcode").is_none_or(|c| c.as_i64() == Some(0)));
    }

    /// JSON values of every kind, to put in the fields that matter.
    fn value() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            (-10i64..10_000).prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            ".{0,12}".prop_map(serde_json::Value::from),
            "[A-Za-z0-9_-]{0,40}".prop_map(serde_json::Value::from),
            "[ -~]{0,40}".prop_map(serde_json::Value::from),
            "[A-Za-z0-9_.~+/=-]{2040,2050}".prop_map(serde_json::Value::from),
            Just(serde_json::json!([])),
            Just(serde_json::json!({})),
        ]
    }

    proptest! {
        #[test]
        fn classify_arbitrary_bytes(status in 0u16..1000, body in proptest::collection::vec(any::<u8>(), 0..256)) {
            check(status, &body, "access_token");
            check(status, &body, "ticket");
        }

        #[test]
        fn classify_json_objects(
            status in prop_oneof![Just(200u16), 100u16..600],
            token in proptest::option::of(value()),
            expires in proptest::option::of(value()),
            errcode in proptest::option::of(prop_oneof![Just(serde_json::json!(0)), value()]),
            truncate in proptest::option::of(0usize..80),
        ) {
            let mut obj = serde_json::Map::new();
            for (key, v) in [("access_token", token), ("expires_in", expires), ("errcode", errcode)] {
                if let Some(v) = v {
                    obj.insert(key.to_string(), v);
                }
            }
            let mut body = serde_json::Value::Object(obj).to_string().into_bytes();
            if let Some(n) = truncate {
                body.truncate(n);
            }
            check(status, &body, "access_token");
        }
    }
}
