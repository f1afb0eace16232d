//! The authorizer list of an Open Platform component
//! (`api_get_authorizer_list`, 500 a page): every authorizer with its refresh
//! token, the entries that could not be stored left out. `authorizers sync`
//! stores them; `refresh` recovers refused refresh tokens (61023) from them.

use std::time::Instant;

use crate::app::App;
use crate::upstream::{Client, Failure};

const LIST_PATH: &str = "/cgi-bin/component/api_get_authorizer_list";
/// WeChat's largest page.
const PAGE: usize = 500;
/// More authorizers than any component has: the listing stops there.
const MOST_AUTHORIZERS: usize = 1_000_000;

/// One authorizer as listed: its appid, refresh token and authorization time.
pub struct Listed {
    pub appid: String,
    pub refresh_token: String,
    pub auth_time: Option<i64>,
}

/// Every authorizer of `component` (platform `platform`), page by page, with
/// its token; `token` is the component's, if there is a usable one.
pub fn list(
    client: &Client,
    component: &App,
    platform: &str,
    token: Option<String>,
    deadline: Instant,
) -> Result<Vec<Listed>, Failure> {
    let token = token.ok_or_else(|| Failure::Guard("no usable component token".to_string()))?;
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let body = serde_json::json!({
            "component_appid": component.appid,
            "offset": offset,
            "count": PAGE,
        });
        let query = [("component_access_token", token.as_str())];
        let page = client.post_json(component, LIST_PATH, &query, Some(&body), deadline)?;
        let total = page
            .get("total_count")
            .and_then(|v| v.as_u64())
            .unwrap_or(0) as usize;
        let items = page
            .get("list")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        let got = items.len();
        for item in items {
            let text = |key: &str| item.get(key).and_then(|v| v.as_str()).map(str::to_string);
            let (Some(appid), Some(refresh_token)) =
                (text("authorizer_appid"), text("refresh_token"))
            else {
                continue;
            };
            if let Some(why) = refused(&appid, &refresh_token) {
                log::warn!(
                    "platform {}: authorizer list: skipped the entry {}: {why}",
                    platform,
                    crate::text::quoted_max(&appid, 80)
                );
                continue;
            }
            crate::secret::Secret::new(refresh_token.clone());
            out.push(Listed {
                appid,
                refresh_token,
                auth_time: item.get("auth_time").and_then(|v| v.as_i64()),
            });
        }
        // `offset` counts listed entries, kept or not.
        offset += got;
        if got == 0 || offset >= total.min(MOST_AUTHORIZERS) {
            return Ok(out);
        }
    }
}

/// Why a listed authorizer is not stored, if it is not: the checks of `push`
/// and `authorizers import` (an appid of letters, digits, `-` and `_`; a
/// token of WeChat's alphabet, at most [`MAX_VALUE_LEN`] bytes).
fn refused(appid: &str, refresh_token: &str) -> Option<&'static str> {
    use crate::platform::push::{is_customer_id, pushed_alphabet};
    use crate::upstream::classify::MAX_VALUE_LEN;
    if !is_customer_id(appid) {
        return Some("not an appid (letters, digits, - and _, at most 64)");
    }
    if refresh_token.is_empty()
        || refresh_token.len() > MAX_VALUE_LEN
        || !pushed_alphabet(refresh_token)
    {
        return Some(
            "its refresh_token is empty, too long or has characters outside [A-Za-z0-9-_.~+/=@]",
        );
    }
    None
}
