//! `wxtoken authorizers link --platform NAME --redirect URL`: a fresh
//! authorization link (Open Platform: the PC `componentloginpage` one, or the
//! H5 `bindcomponent` one with `--mobile`) or install link (WeCom suite:
//! `3rdapp/install`, `--test` for a test authorization). Each is made from a
//! new pre-auth code: they are single use (D.1, D.5). The customer comes back
//! to `--redirect` with `auth_code`: `wxtoken authorizers add` takes it.

use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use serde_json::json;

use crate::cli::{Global, LinkArgs};
use crate::error::usage;
use crate::graph::Api;
use crate::text::quoted;
use crate::upstream::{Client, percent};

pub fn run(global: &Global, args: &LinkArgs) -> Result<()> {
    check(args)?;
    let mut s = crate::cmd::session::platform_session(global, &args.platform)?;
    let link = s.link.clone();
    let p = &link.platform;
    let open = p.kind == Api::OpenPlatform;
    if p.kind == Api::WecomProvider {
        return Err(usage(format!(
            "authorizers link: platform {} is a wecom_provider: make the install link of its wecom_suite",
            quoted(&p.name)
        )));
    }
    if open && (args.state.is_some() || args.test) {
        return Err(usage(
            "authorizers link: --state and --test are WeCom's: remove them for an Open Platform component",
        ));
    }
    if !open && (args.mobile || args.biz_appid.is_some() || args.auth_type != 3) {
        return Err(usage(
            "authorizers link: --mobile, --auth-type and --biz-appid are the Open Platform's: remove them for a WeCom suite",
        ));
    }
    s.own_token()?;
    let token = link
        .token()
        .ok_or_else(|| anyhow!("platform {}: no usable token", p.name))?;
    let client = Client::new(s.opts.timeout, s.opts.proxy.clone());
    let deadline = Instant::now() + s.opts.timeout * 3;
    // A call made with the platform's token, its failure named by the API's name.
    let call = |path: &str, token_name: &str, body: Option<serde_json::Value>| {
        let what = path.rsplit('/').next().unwrap_or(path);
        let query = [(token_name, token.as_str())];
        (client.post_json(&link.app, path, &query, body.as_ref(), deadline))
            .map_err(|f| anyhow!("platform {}: {what}: {}", p.name, f.describe(true)))
    };
    let redirect = percent(&args.redirect);
    let url = if open {
        let body = json!({"component_appid": p.appid});
        let code = pre_auth_code(&call(
            "/cgi-bin/component/api_create_preauthcode",
            "component_access_token",
            Some(body),
        )?)?;
        let biz = args
            .biz_appid
            .as_deref()
            .map(|b| format!("&biz_appid={}", percent(b)))
            .unwrap_or_default();
        let common = format!(
            "component_appid={}&pre_auth_code={}&redirect_uri={redirect}&auth_type={}{biz}",
            percent(&p.appid),
            percent(&code),
            args.auth_type
        );
        if args.mobile {
            format!(
                "https://open.weixin.qq.com/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1&{common}#wechat_redirect"
            )
        } else {
            format!("https://mp.weixin.qq.com/cgi-bin/componentloginpage?{common}")
        }
    } else {
        let token_name = "suite_access_token";
        let answer = call("/cgi-bin/service/get_pre_auth_code", token_name, None)?;
        let code = pre_auth_code(&answer)?;
        if args.test {
            let body = json!({"pre_auth_code": code, "session_info": {"auth_type": 1}});
            call("/cgi-bin/service/set_session_info", token_name, Some(body))?;
        }
        let state = args
            .state
            .as_deref()
            .map(|st| format!("&state={st}"))
            .unwrap_or_default();
        format!(
            "https://open.work.weixin.qq.com/3rdapp/install?suite_id={}&pre_auth_code={}&redirect_uri={redirect}{state}",
            percent(&p.appid),
            percent(&code)
        )
    };
    crate::render::print(&format!("{url}\n")).context("could not write on stdout")
}

fn check(args: &LinkArgs) -> Result<()> {
    let r = &args.redirect;
    if !(r.starts_with("https://") || r.starts_with("http://"))
        || r.len() > 2048
        || r.chars().any(char::is_control)
    {
        return Err(usage(format!(
            "authorizers link: --redirect {}: give the http(s):// URL WeChat sends the customer back to",
            quoted(&crate::text::clip(r, 80))
        )));
    }
    if let Some(st) = &args.state
        && (st.is_empty() || st.len() > 128 || !st.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return Err(usage(
            "authorizers link: --state: letters and digits only, at most 128 (WeCom's rule)",
        ));
    }
    if let Some(b) = &args.biz_appid {
        crate::config::check_appid(b)
            .map_err(|e| usage(format!("authorizers link: --biz-appid: {e}")))?;
    }
    Ok(())
}

/// The answer's `pre_auth_code`, if it is one.
fn pre_auth_code(answer: &serde_json::Map<String, serde_json::Value>) -> Result<String> {
    answer
        .get("pre_auth_code")
        .and_then(|v| v.as_str())
        .filter(|c| !c.is_empty() && c.len() <= 512 && crate::platform::push::pushed_alphabet(c))
        .map(str::to_string)
        .ok_or_else(|| anyhow!("the answer has no pre_auth_code"))
}
