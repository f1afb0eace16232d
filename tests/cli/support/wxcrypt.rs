//! Signed, encrypted pushes for tests, as WeChat sends them (facts in
//! `wechat-third-party-api.md`, A.2): the same algorithm as the binary's
//! `platform::crypto`, written again here on the same crates, because tests
//! cannot use the binary's modules. Proven against the published vector V1
//! (the test at the end), so a push test that fails blames wxtoken, not this.
#![allow(dead_code)]

use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockEncryptMut, KeyIvInit};
use sha1::{Digest, Sha1};

/// The random bytes every push of these tests carries (WeChat draws new ones).
pub const RANDOM: [u8; 16] = *b"wxtoken-test-rnd";

/// One platform's callback Token and EncodingAESKey.
#[derive(Clone, Debug)]
pub struct WxCrypt {
    pub token: String,
    key: [u8; 32],
}

/// One callback as the web server hands it over: the query string and the body.
#[derive(Clone, Debug)]
pub struct Push {
    pub query: String,
    pub body: String,
    /// The `Encrypt` text inside the body.
    pub encrypt: String,
}

impl WxCrypt {
    /// Panics on a key that is not 43 base64 characters (tests pass good ones).
    pub fn new(token: &str, encoding_aes_key: &str) -> WxCrypt {
        assert_eq!(
            encoding_aes_key.len(),
            43,
            "an EncodingAESKey has 43 characters"
        );
        let lenient = GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        let key = lenient.decode(format!("{encoding_aes_key}=")).unwrap();
        WxCrypt {
            token: token.to_string(),
            key: key.try_into().unwrap(),
        }
    }

    /// `random ‖ len ‖ msg ‖ receive_id`, padded to 32 bytes, AES-256-CBC, base64.
    pub fn encrypt_with(&self, msg: &str, receive_id: &str, random: [u8; 16]) -> String {
        let mut buf = random.to_vec();
        buf.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        buf.extend_from_slice(msg.as_bytes());
        buf.extend_from_slice(receive_id.as_bytes());
        let pad = 32 - buf.len() % 32;
        buf.resize(buf.len() + pad, pad as u8);
        let n = buf.len();
        let iv: [u8; 16] = self.key[..16].try_into().unwrap();
        let out = cbc::Encryptor::<Aes256>::new(&self.key.into(), &iv.into())
            .encrypt_padded_mut::<NoPadding>(&mut buf, n)
            .unwrap();
        STANDARD.encode(out)
    }

    /// [`WxCrypt::encrypt_with`] the tests' fixed [`RANDOM`].
    pub fn encrypt(&self, msg: &str, receive_id: &str) -> String {
        self.encrypt_with(msg, receive_id, RANDOM)
    }

    /// `msg_signature`: SHA-1 of the sorted token, timestamp, nonce and text.
    pub fn msg_signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        sha1_sorted(&mut [&self.token, timestamp, nonce, encrypt])
    }

    /// The plain `signature` (token, timestamp, nonce).
    pub fn signature(&self, timestamp: &str, nonce: &str) -> String {
        sha1_sorted(&mut [&self.token, timestamp, nonce])
    }

    /// An Open Platform push of `msg` to the component `appid`: the query
    /// WeChat puts on the URL and the encrypted envelope.
    pub fn open_platform_push(&self, appid: &str, msg: &str, timestamp: &str, nonce: &str) -> Push {
        let encrypt = self.encrypt(msg, appid);
        let query = format!(
            "signature={}&timestamp={timestamp}&nonce={nonce}&encrypt_type=aes&msg_signature={}",
            self.signature(timestamp, nonce),
            self.msg_signature(timestamp, nonce, &encrypt)
        );
        let body = format!(
            "<xml>\n    <AppId><![CDATA[{appid}]]></AppId>\n    <Encrypt><![CDATA[{encrypt}]]></Encrypt>\n</xml>"
        );
        Push {
            query,
            body,
            encrypt,
        }
    }

    /// A WeCom command-callback push of `msg` to the suite `suite_id`.
    pub fn wecom_push(&self, suite_id: &str, msg: &str, timestamp: &str, nonce: &str) -> Push {
        let encrypt = self.encrypt(msg, suite_id);
        let query = format!(
            "msg_signature={}&timestamp={timestamp}&nonce={nonce}",
            self.msg_signature(timestamp, nonce, &encrypt)
        );
        let body = format!(
            "<xml><ToUserName><![CDATA[{suite_id}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
        );
        Push {
            query,
            body,
            encrypt,
        }
    }

    /// WeCom's URL check: the query of the GET whose decrypted `echostr` is
    /// `plaintext` (what the receiver must answer), for `receive_id`.
    pub fn wecom_echostr(
        &self,
        receive_id: &str,
        plaintext: &str,
        timestamp: &str,
        nonce: &str,
    ) -> String {
        let echostr = self.encrypt(plaintext, receive_id);
        format!(
            "msg_signature={}&timestamp={timestamp}&nonce={nonce}&echostr={}",
            self.msg_signature(timestamp, nonce, &echostr),
            url_encode(&echostr)
        )
    }
}

/// The decrypted `component_verify_ticket` message.
pub fn verify_ticket(appid: &str, ticket: &str, create_time: i64) -> String {
    format!(
        "<xml><AppId><![CDATA[{appid}]]></AppId><CreateTime>{create_time}</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[{ticket}]]></ComponentVerifyTicket></xml>"
    )
}

/// The decrypted `suite_ticket` message.
pub fn suite_ticket(suite_id: &str, ticket: &str, timestamp: i64) -> String {
    format!(
        "<xml><SuiteId><![CDATA[{suite_id}]]></SuiteId><InfoType><![CDATA[suite_ticket]]></InfoType><TimeStamp>{timestamp}</TimeStamp><SuiteTicket><![CDATA[{ticket}]]></SuiteTicket></xml>"
    )
}

/// Percent-encodes everything but unreserved characters (base64's `+/=` too).
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn sha1_sorted(parts: &mut [&str]) -> String {
    parts.sort_unstable();
    let mut hash = Sha1::new();
    for p in parts.iter() {
        hash.update(p.as_bytes());
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const V1_APPID: &str = "wx134c8103faa5a59e";

    /// The helper itself reproduces V1's encrypt direction and signatures.
    #[test]
    fn the_test_helper_reproduces_the_v1_vector() {
        let c = WxCrypt::new("AAAAA", V1_KEY);
        let out = c.encrypt_with(
            "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>",
            V1_APPID,
            *b"999951349e8ee746",
        );
        assert_eq!(
            out,
            "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7"
        );
        assert_eq!(
            c.msg_signature("1713424427", "415670741", &out),
            "03e0812039325c2712ef5f0f980fd14c70d6e307"
        );
        assert_eq!(
            c.signature("1715943329", "1590219412"),
            "cc0c594499c1634947d5b502f158ee518947db27"
        );
        // V2's key has the non-canonical last character.
        let v2 = WxCrypt::new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C");
        assert_eq!(
            v2.encrypt_with(
                "1616140317555161061",
                "wx5823bf96d3bd56c7",
                *b"c41b64491c2468d0"
            ),
            "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
        );
    }

    #[test]
    fn pushes_carry_what_wechat_sends() {
        let c = WxCrypt::new("AAAAA", V1_KEY);
        let msg = verify_ticket(V1_APPID, "ticket@@@x", 1_715_943_329);
        let push = c.open_platform_push(V1_APPID, &msg, "1715943329", "1590219412");
        assert!(
            push.body
                .contains(&format!("<Encrypt><![CDATA[{}]]></Encrypt>", push.encrypt))
        );
        assert!(push.query.contains(&format!(
            "&msg_signature={}",
            c.msg_signature("1715943329", "1590219412", &push.encrypt)
        )));
        assert!(
            push.query
                .starts_with("signature=cc0c594499c1634947d5b502f158ee518947db27&")
        );
        let wecom = c.wecom_push("ww1", &suite_ticket("ww1", "t", 1), "1", "2");
        assert!(wecom.body.starts_with("<xml><ToUserName><![CDATA[ww1]]>"));
        let echo = c.wecom_echostr("ww1", "1616140317555161061", "1", "2");
        let encoded = echo.split("&echostr=").nth(1).unwrap();
        assert!(!encoded.contains(['+', '/', '=']));
        assert_eq!(url_encode("a+b/c="), "a%2Bb%2Fc%3D");
    }
}
