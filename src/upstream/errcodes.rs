//! WeChat's and WeCom's errcodes: what each means and the user's fix, from the
//! upstream documentation, as data.

/// `{ip}` in a meaning or fix is replaced by the IP that the errmsg quotes.
const IP: &str = "{ip}";

/// The same errcode means something else on a request made from another
/// credential (a ticket from its token) than on a token endpoint (made from
/// the secret): (errcode, meaning, fix), looked up first for the former.
const FROM_CREDENTIAL: &[(i64, &str, &str)] = &[(
    40001,
    "access token invalid or not the latest",
    "another process fetched a newer token; run `wxtoken refresh` again",
)];

/// (errcode, meaning, fix).
const TABLE: &[(i64, &str, &str)] = &[
    (
        -1,
        "system busy",
        "WeChat is busy; wxtoken retried; run again later",
    ),
    (
        40001,
        "wrong AppSecret",
        "check the app's secret; if it was reset in the admin console, store the new one",
    ),
    (
        40002,
        "invalid grant_type",
        "a bug in wxtoken's request; please report it",
    ),
    (
        40013,
        "invalid appid",
        "check the appid (for WeCom, the corpid) and that it belongs to this secret",
    ),
    (
        40014,
        "invalid access_token",
        "the token was revoked; run `wxtoken refresh --force`",
    ),
    (
        40125,
        "invalid AppSecret",
        "check the app's secret; reset it in the admin console if it was lost",
    ),
    (
        40164,
        "caller IP {ip} is not on the IP whitelist",
        "add {ip} to the IP whitelist in the admin console (Development > Basic configuration)",
    ),
    (
        40243,
        "AppSecret frozen",
        "unfreeze or reset the AppSecret in the admin console",
    ),
    (
        41001,
        "access_token missing",
        "a bug in wxtoken's request; please report it",
    ),
    (41002, "appid missing", "set the app's appid"),
    (41004, "secret missing", "set the app's secret"),
    (
        42001,
        "access_token expired",
        "run `wxtoken refresh` (the stored token is marked stale)",
    ),
    (
        45009,
        "daily quota reached",
        "wait until the quota resets at midnight Beijing time, or reset it with clear_quota (10 times a month); WeCom allows a company 400 jsapi/app tickets an hour (100 per app): wxtoken fetches one only when due",
    ),
    (
        45011,
        "per-minute quota reached",
        "wait a minute and run again; check that nothing else calls the token API",
    ),
    (
        48001,
        "API not authorized for this account",
        "check the account's permissions in the admin console",
    ),
    (
        50004,
        "token API forbidden for this account",
        "check the account's status in the admin console",
    ),
    (
        50007,
        "account frozen",
        "check the account's status in the admin console",
    ),
    (
        89501,
        "waiting for the administrator to confirm this IP",
        "ask the administrator to confirm the IP in the admin console, then run again",
    ),
    (
        89503,
        "waiting for the administrator to confirm this IP",
        "ask the administrator to confirm the IP in the admin console, then run again",
    ),
    (
        89506,
        "the administrator refused this IP: blocked for 24 hours",
        "call from a whitelisted IP, or wait 24 hours",
    ),
    (
        89507,
        "the administrator refused this IP: blocked for 1 hour",
        "call from a whitelisted IP, or wait an hour",
    ),
    // Third-party platforms: Open Platform components (A.3 to A.5).
    (
        61003,
        "the authorizer has not authorized (or no longer authorizes) this component",
        "the merchant must authorize the platform again",
    ),
    (
        61004,
        "caller IP {ip} is not on the third-party platform's IP whitelist",
        "add {ip} to the whitelist in the Open Platform console (platform details > development info > IP whitelist)",
    ),
    (
        61005,
        "component_verify_ticket expired",
        "WeChat pushes a new one every 10 minutes: check the authorization event URL and `wxtoken push`",
    ),
    (
        61006,
        "component_verify_ticket invalid (empty, wrong, or another component's)",
        "check that the pushes reach `wxtoken push --platform` of this platform (its appid) and run again after the next push",
    ),
    (
        61009,
        "authorization code invalid or already used",
        "the merchant must authorize again (a code is single use and expires)",
    ),
    (
        61011,
        "not a component's appid and secret",
        "check the platform's appid and secret (the component's, not an Official Account's)",
    ),
    (
        61023,
        "refresh token invalid",
        "wxtoken recovers it from the authorizer list when it can; otherwise the merchant must authorize again",
    ),
    // WeCom service providers (B.5).
    (
        40078,
        "auth code invalid or already used",
        "the company must install the app again (a code is single use, valid 10 minutes)",
    ),
    (
        40080,
        "invalid suite_secret",
        "check the suite's secret in the provider console",
    ),
    (
        40082,
        "suite or provider token invalid",
        "run `wxtoken refresh` again; if it persists the suite is not installed in that company",
    ),
    (
        40083,
        "invalid suite_id",
        "check the platform's appid (the suite id)",
    ),
    (
        40084,
        "permanent code invalid",
        "the company must install the app again",
    ),
    (
        40085,
        "suite_ticket invalid or expired",
        "WeCom pushes one every 10 minutes: check the command callback URL and `wxtoken push`, or refresh the ticket in the provider console",
    ),
    (
        42009,
        "suite token expired",
        "run `wxtoken refresh` (wxtoken renews it once and retries)",
    ),
    (
        48004,
        "authorization invalid (never installed, or cancelled)",
        "the company cancelled the authorization: it must install the app again",
    ),
    (
        60020,
        "caller IP {ip} is not a trusted IP of this WeCom app",
        "add {ip} to the app's trusted IPs in the WeCom admin console",
    ),
];

/// The meaning of an errcode and the user's fix. `own`: the request's own
/// meanings (its node's), looked up first. `from_credential`: the request
/// was made from another credential (a ticket endpoint), not from the secret.
pub fn meaning(
    own: &[(i64, &str, &str)],
    errcode: i64,
    errmsg: &str,
    from_credential: bool,
) -> (String, String) {
    let entry = own
        .iter()
        .chain(FROM_CREDENTIAL.iter().filter(|_| from_credential))
        .chain(TABLE)
        .find(|(code, ..)| *code == errcode);
    match entry {
        Some((_, meaning, fix)) if meaning.contains(IP) || fix.contains(IP) => {
            let ip = quoted_ip(errmsg).unwrap_or_else(|| "this machine's IP".to_string());
            (meaning.replace(IP, &ip), fix.replace(IP, &ip))
        }
        Some((_, meaning, fix)) => (meaning.to_string(), fix.to_string()),
        // Redacted before it is cut: a cut secret would not be recognized.
        None => (
            crate::text::clip(&crate::secret::redact(errmsg), 120),
            "see WeChat's global error code list".to_string(),
        ),
    }
}

/// The IP that WeChat quotes in a whitelist error: `invalid ip 1.2.3.4 ipv6 ...`
/// or `from ip: 1.2.3.4`.
fn quoted_ip(errmsg: &str) -> Option<String> {
    let mut words = errmsg.split(|c: char| c.is_whitespace() || c == ',');
    while let Some(w) = words.next() {
        // `ip`, `ip:`, or Open Platform's `requestIP:`.
        let lower = w.to_ascii_lowercase();
        if lower == "ip" || lower.ends_with("ip:") {
            for next in words.by_ref() {
                if next.is_empty() || next == ":" {
                    continue;
                }
                if next.parse::<std::net::IpAddr>().is_ok() {
                    return Some(next.to_string());
                }
                break;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_ip_forms() {
        assert_eq!(
            quoted_ip("invalid ip 10.0.0.7 ipv6 ::ffff:10.0.0.7, not in whitelist").as_deref(),
            Some("10.0.0.7")
        );
        assert_eq!(
            quoted_ip("not allow to access from your ip, hint: [x], from ip: 1.2.3.4").as_deref(),
            Some("1.2.3.4")
        );
        assert_eq!(quoted_ip("invalid ip"), None);
        assert_eq!(
            quoted_ip("access clientip is not registered requestIP: 10.1.2.3 rid: 1").as_deref(),
            Some("10.1.2.3")
        );
    }

    #[test]
    fn the_context_picks_the_meaning_and_ips_are_quoted() {
        assert_eq!(meaning(&[], 40001, "", false).0, "wrong AppSecret");
        assert_eq!(
            meaning(&[], 40001, "", true).0,
            "access token invalid or not the latest"
        );
        assert_eq!(meaning(&[], 40014, "", true).0, "invalid access_token");
        let own = &[(40001, "its own", "its fix")];
        assert_eq!(
            meaning(own, 40001, "", true),
            ("its own".into(), "its fix".into())
        );
        assert_eq!(meaning(own, 40014, "", true).0, "invalid access_token");
        let (m, fix) = meaning(
            &[],
            60020,
            "not allow to access from your ip, from ip: 1.2.3.4",
            false,
        );
        assert_eq!(m, "caller IP 1.2.3.4 is not a trusted IP of this WeCom app");
        assert!(fix.starts_with("add 1.2.3.4 to"), "{fix}");
        let (m, fix) = meaning(&[], 40164, "invalid ip", false);
        assert_eq!(m, "caller IP this machine's IP is not on the IP whitelist");
        assert!(fix.starts_with("add this machine's IP to"), "{fix}");
        let (m, fix) = meaning(
            &[],
            61004,
            "access clientip is not registered requestIP: 10.1.2.3",
            true,
        );
        assert!(
            m.contains("10.1.2.3 is not on the third-party platform's IP whitelist"),
            "{m}"
        );
        assert!(
            fix.starts_with("add 10.1.2.3 to the whitelist in the Open Platform console"),
            "{fix}"
        );
        assert!(meaning(&[], 61005, "", false).1.contains("`wxtoken push`"));
        assert_eq!(
            meaning(&[], 99999, "odd", false),
            (
                "odd".to_string(),
                "see WeChat's global error code list".to_string()
            )
        );
    }
}
