//! The published vectors (`wechat-third-party-api.md`, A.2), byte for byte,
//! and hostile input.

use super::*;
use proptest::prelude::*;

const V1_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const V1_APPID: &str = "wx134c8103faa5a59e";
const V1_ENCRYPT: &str = "D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==";
const V1_MSG: &str = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n<FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName>\n<CreateTime>1715943329</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[debug_demo]]></Event>\n<debug_str><![CDATA[hello world]]></debug_str>\n</xml>";

fn v1() -> MsgCrypt {
    MsgCrypt::new("AAAAA", V1_KEY).unwrap()
}

/// The 16 ASCII characters the official samples use as their random bytes.
fn random(s: &str) -> [u8; 16] {
    s.as_bytes().try_into().unwrap()
}

#[test]
fn v1_open_platform_push_decrypts_and_both_signatures_match() {
    let c = v1();
    assert_eq!(
        c.url_signature("1715943329", "1590219412"),
        "cc0c594499c1634947d5b502f158ee518947db27"
    );
    let sig = "6c12a4205838198b8fa631b3220723bb07f1015c";
    assert_eq!(c.signature("1715943329", "1590219412", V1_ENCRYPT), sig);
    assert!(c.verify(sig, "1715943329", "1590219412", V1_ENCRYPT));
    let d = c.decrypt(V1_ENCRYPT).unwrap();
    assert_eq!(d.msg, V1_MSG);
    assert_eq!(d.msg.len(), 292);
    assert_eq!(d.receive_id, V1_APPID);
    // Encrypting it again with the sample's random bytes (pad 22) gives the
    // same text back.
    assert_eq!(
        c.encrypt(V1_MSG, V1_APPID, random("1205899eaf019bbd"))
            .unwrap(),
        V1_ENCRYPT
    );
}

#[test]
fn v1_encrypt_direction_byte_for_byte() {
    let c = v1();
    let out = c
        .encrypt(
            "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>",
            V1_APPID,
            random("999951349e8ee746"),
        )
        .unwrap();
    let expected = "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7";
    assert_eq!(out, expected);
    assert_eq!(
        c.signature("1713424427", "415670741", &out),
        "03e0812039325c2712ef5f0f980fd14c70d6e307"
    );
}

const V2_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

#[test]
fn v2_wecom_url_verification_and_message() {
    let c = MsgCrypt::new("QDG6eK", V2_KEY).unwrap();
    let echostr =
        "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";
    assert!(c.verify(
        "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
        "1409659589",
        "263014780",
        echostr
    ));
    let d = c.decrypt(echostr).unwrap();
    assert_eq!(d.msg, "1616140317555161061");
    assert_eq!(d.receive_id, "wx5823bf96d3bd56c7");
    assert_eq!(
        c.encrypt(&d.msg, &d.receive_id, random("c41b64491c2468d0"))
            .unwrap(),
        echostr
    );

    let encrypt = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==";
    assert!(c.verify(
        "477715d11cdb4164915debcba66cb864d751f3e6",
        "1409659813",
        "1372623149",
        encrypt
    ));
    let d = c.decrypt(encrypt).unwrap();
    let msg = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>";
    assert_eq!(d.msg, msg);
    assert_eq!(d.msg.len(), 284);
    assert_eq!(d.receive_id, "wx5823bf96d3bd56c7");
    // Pad 30: a 16-byte PKCS#7 unpadder would refuse this.
    assert_eq!(
        c.encrypt(msg, &d.receive_id, random("0960688932c47ef1"))
            .unwrap(),
        encrypt
    );
}

#[test]
fn v3_deterministic_encryption_and_echostr() {
    let c = MsgCrypt::new("123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR").unwrap();
    let msg = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>";
    assert_eq!(msg.len(), 247);
    let out = c
        .encrypt(msg, "wx49f0ab532d5d035a", random("1234567890123456"))
        .unwrap();
    assert_eq!(
        out,
        "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
    );
    assert_eq!(
        c.signature("1411525903", "461056294", &out),
        "407518b7649e86ef23978113f92d27afa9296533"
    );
    assert_eq!(c.decrypt(&out).unwrap().msg, msg);

    let echostr =
        "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==";
    let sig = "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96";
    assert!(c.verify(sig, "1411443780", "437374425", echostr));
    assert!(!c.verify(sig, "1411443780", "437374424", echostr));
    let d = c.decrypt(echostr).unwrap();
    assert_eq!(d.msg, "5927782489442352469");
    assert_eq!(d.receive_id, "wx49f0ab532d5d035a");
}

#[test]
fn v4_classic_official_sample() {
    let c = MsgCrypt::new("spamtest", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
    let encrypt = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";
    assert!(c.verify(
        "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
        "1409735669",
        "1320562132",
        encrypt
    ));
    let d = c.decrypt(encrypt).unwrap();
    assert!(
        d.msg.contains("<Content><![CDATA[abcdteT]]></Content>"),
        "{}",
        d.msg
    );
    assert_eq!(d.receive_id, "wx2c2769f8efd9abc2");
    assert_eq!(
        c.encrypt(&d.msg, &d.receive_id, random("89465c840c5f116f"))
            .unwrap(),
        encrypt
    );
}

#[test]
fn keys_and_tokens_are_checked_without_quoting_the_key() {
    let short = &V2_KEY[..42];
    assert_eq!(
        MsgCrypt::new("t0k", short).unwrap_err(),
        KeyError::KeyLength(42)
    );
    assert_eq!(
        MsgCrypt::new("t0k", &format!("{V2_KEY}=")).unwrap_err(),
        KeyError::KeyLength(44)
    );
    let bad = format!("{}+{}", &V2_KEY[..10], &V2_KEY[11..]);
    let err = MsgCrypt::new("t0k", &bad).unwrap_err();
    assert_eq!(err, KeyError::KeyChar(11));
    assert!(!err.to_string().contains(&V2_KEY[..10]));
    let wide = format!("{}é", &V2_KEY[..42]);
    assert_eq!(
        MsgCrypt::new("t0k", &wide).unwrap_err(),
        KeyError::KeyChar(43)
    );
    assert_eq!(MsgCrypt::new("", V2_KEY).unwrap_err(), KeyError::TokenEmpty);
    assert_eq!(
        MsgCrypt::new("tok\n", V2_KEY).unwrap_err(),
        KeyError::TokenChar
    );
    assert_eq!(
        MsgCrypt::new(&"t".repeat(129), V2_KEY).unwrap_err(),
        KeyError::TokenLength(129)
    );
    assert!(!format!("{:?}", MsgCrypt::new("QDG6eK", V2_KEY).unwrap()).contains("QDG6eK"));
}

#[test]
fn a_signature_for_other_input_or_in_other_case_does_not_verify() {
    let c = v1();
    let sig = "6c12a4205838198b8fa631b3220723bb07f1015c";
    assert!(!c.verify(&sig.to_uppercase(), "1715943329", "1590219412", V1_ENCRYPT));
    assert!(!c.verify(&sig[..39], "1715943329", "1590219412", V1_ENCRYPT));
    assert!(!c.verify("", "1715943329", "1590219412", V1_ENCRYPT));
    assert!(!c.verify(sig, "1715943330", "1590219412", V1_ENCRYPT));
    let other = MsgCrypt::new("AAAAB", V1_KEY).unwrap();
    assert!(!other.verify(sig, "1715943329", "1590219412", V1_ENCRYPT));
}

/// Encrypts raw plaintext (already padded as the test wants) with the V1 key.
fn raw(plain: &[u8]) -> String {
    let mut buf = plain.to_vec();
    let n = buf.len();
    let out = cbc::Encryptor::<Aes256>::new(&[0u8; 32].into(), &[0u8; 16].into())
        .encrypt_padded_mut::<NoPadding>(&mut buf, n)
        .unwrap()
        .to_vec();
    STANDARD.encode(out)
}

/// `random ‖ len ‖ msg ‖ id`, unpadded.
fn content(len: u32, body: &[u8]) -> Vec<u8> {
    let mut v = b"0123456789abcdef".to_vec();
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn padded(mut v: Vec<u8>, pad: u8, total: usize) -> Vec<u8> {
    v.resize(total, pad);
    v
}

#[test]
fn broken_ciphertexts_are_refused_with_the_reason() {
    let c = v1();
    assert_eq!(c.decrypt("not base64!").unwrap_err(), CryptError::Base64);
    assert_eq!(c.decrypt("").unwrap_err(), CryptError::Length(0));
    assert_eq!(c.decrypt("AAAA").unwrap_err(), CryptError::Length(3));
    let huge = "A".repeat(MAX_ENCRYPTED + 4);
    assert_eq!(
        c.decrypt(&huge).unwrap_err(),
        CryptError::TooLong(huge.len())
    );
    // A pad byte of 0, of 33, or inconsistent with the bytes before it.
    let body = content(3, b"abcwx1");
    assert_eq!(
        c.decrypt(&raw(&padded(body.clone(), 0, 32))).unwrap_err(),
        CryptError::Padding
    );
    let mut big = padded(body.clone(), 33, 64);
    big[..body.len()].copy_from_slice(&body);
    assert_eq!(c.decrypt(&raw(&big)).unwrap_err(), CryptError::Padding);
    let mut mixed = padded(body.clone(), 6, 32);
    mixed[27] = 5;
    assert_eq!(c.decrypt(&raw(&mixed)).unwrap_err(), CryptError::Padding);
    // A whole block of pad (32 bytes of 0x20) leaves nothing: no header.
    assert_eq!(c.decrypt(&raw(&[32; 32])).unwrap_err(), CryptError::Padding);
    // A length past the end, and the largest length there is.
    let long = content(7, b"abcwx1");
    let n = long.len();
    assert_eq!(
        c.decrypt(&raw(&padded(long, (32 - n) as u8, 32)))
            .unwrap_err(),
        CryptError::MsgLength(7)
    );
    let max = content(u32::MAX, b"abcwx1");
    assert_eq!(
        c.decrypt(&raw(&padded(max, 6, 32))).unwrap_err(),
        CryptError::MsgLength(u32::MAX)
    );
    // Not UTF-8.
    let latin = content(3, b"ab\xe9wx1");
    assert_eq!(
        c.decrypt(&raw(&padded(latin, 6, 32))).unwrap_err(),
        CryptError::Utf8
    );
    // And the same bytes well-formed decrypt.
    let good = c.decrypt(&raw(&padded(body, 6, 32))).unwrap();
    assert_eq!(
        (good.msg.as_str(), good.receive_id.as_str()),
        ("abc", "wx1")
    );
}

#[test]
fn an_encrypted_text_of_the_longest_length_taken_decrypts() {
    let c = v1();
    // Plaintext whose base64 is exactly MAX_ENCRYPTED characters, with a whole
    // block of pad.
    let total = MAX_ENCRYPTED / 4 * 3;
    let msg = vec![b'm'; total - 20 - 3 - 32];
    let body = [msg.as_slice(), b"wx1"].concat();
    let text = raw(&padded(content(msg.len() as u32, &body), 32, total));
    assert_eq!(text.len(), MAX_ENCRYPTED);
    let got = c.decrypt(&text).unwrap();
    assert_eq!((got.msg.len(), got.receive_id.as_str()), (msg.len(), "wx1"));
}

#[test]
fn the_pad_is_always_1_to_32_bytes() {
    let c = v1();
    for n in 0..70 {
        let msg = "m".repeat(n);
        let out = c.encrypt(&msg, "wx", [7; 16]).unwrap();
        let bytes = STANDARD.decode(&out).unwrap();
        assert_eq!(bytes.len() % 32, 0);
        assert!(bytes.len() > 16 + 4 + n + 2);
        assert_eq!(c.decrypt(&out).unwrap().msg, msg);
    }
    let too_long = "m".repeat(MAX_MESSAGE + 1);
    assert!(matches!(
        c.encrypt(&too_long, "", [0; 16]),
        Err(CryptError::TooLong(_))
    ));
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(s in ".{0,400}") {
        let c = v1();
        let _ = c.decrypt(&s);
        let _ = c.verify(&s, &s, &s, &s);
        let _ = MsgCrypt::new(&s, &s);
    }

    #[test]
    fn arbitrary_bytes_as_base64_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let c = v1();
        let _ = c.decrypt(&STANDARD.encode(&bytes));
    }

    #[test]
    fn arbitrary_block_aligned_ciphertexts_never_panic(blocks in proptest::collection::vec(any::<[u8; 16]>(), 1..40)) {
        let c = v1();
        let bytes: Vec<u8> = blocks.concat();
        let _ = c.decrypt(&STANDARD.encode(&bytes));
    }

    #[test]
    fn round_trip(msg in ".{0,300}", id in "[a-zA-Z0-9]{0,40}", random in any::<[u8; 16]>()) {
        let c = v1();
        let out = c.encrypt(&msg, &id, random).unwrap();
        let d = c.decrypt(&out).unwrap();
        prop_assert_eq!(d.msg, msg);
        prop_assert_eq!(d.receive_id, id);
    }

    #[test]
    fn arbitrary_keys_of_the_right_shape_load(key in "[A-Za-z0-9]{43}") {
        prop_assert!(MsgCrypt::new("tok", &key).is_ok());
    }
}

/// The rule for signatures from outside (a push's `msg_signature`): compared
/// only by `MsgCrypt::verify`, and there in constant time (`subtle`'s
/// `ct_eq`). An `==` would work just as well in every test, which is why this
/// test reads the sources: `verify` compares with `ct_eq` and nothing else, and
/// no other file computes a push signature or compares anything named a
/// signature with `==` / `!=` (the tests excepted).
#[test]
fn signatures_are_compared_in_constant_time_only() {
    let crypto = include_str!("../crypto.rs");
    let verify = crypto
        .split("pub fn verify(")
        .nth(1)
        .and_then(|rest| rest.split("\n    }\n").next())
        .expect("MsgCrypt::verify in crypto.rs");
    assert!(verify.contains(".ct_eq("), "verify: {verify}");
    assert!(
        !verify.contains("==") && !verify.contains("!="),
        "verify: {verify}"
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![root];
    let mut offending = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let name = path.to_string_lossy().into_owned();
        if !name.ends_with(".rs") || name.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let computes = code.contains(".signature(") || code.contains(".url_signature(");
            let compares = code.to_lowercase().contains("signature")
                && (code.contains("==") || code.contains("!="));
            if (computes && !name.ends_with("platform/crypto.rs")) || compares {
                offending.push(format!("{name}:{}: {line}", i + 1));
            }
        }
    }
    assert!(
        offending.is_empty(),
        "signatures compared outside verify:\n{}",
        offending.join("\n")
    );
}
