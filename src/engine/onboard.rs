//! A customer arriving by the authorization redirect (`wxtoken authorizers
//! add`, and `push --inetd`'s GET with `auth_code`): the code the redirect
//! carries is stored sealed as pending, exchanged at once (sent at most once,
//! as `codes` does it for pushed codes), and the customer's token made.
//! WeCom pushes no `create_auth` for installs started from the provider's
//! own site: this is how those customers arrive.

use std::time::Duration;

use anyhow::{Result, anyhow};

use super::Session;
use super::codes::{self, Outcome};
use crate::clock;
use crate::error::{Exit, Silent, usage};
use crate::graph::Api;
use crate::platform::PENDING_CODE_KIND;
use crate::platform::push::{pending_key, pushed_alphabet};
use crate::secret::Secret;
use crate::store::{Customer, CustomerState};
use crate::text::quoted;
use crate::upstream::Client;
use crate::upstream::classify::MAX_VALUE_LEN;

/// How long a redirect's code is kept for its exchange: WeCom's live 10
/// minutes (D.5), and the Open Platform's redirect says `expires_in=600`.
const CODE_LIFE: i64 = 600;

/// Checks a code from the redirect (URL-decoded): WeChat's alphabet and `@`.
pub fn check_code(code: &str) -> Result<Secret> {
    let code = code.trim();
    if code.is_empty() || code.len() > MAX_VALUE_LEN || !pushed_alphabet(code) {
        return Err(usage(format!(
            "authorizers add: the code is not an auth_code (at most {MAX_VALUE_LEN} of letters, digits and -_.~+/=@): pass the value of the redirect's auth_code, URL-decoded"
        )));
    }
    Ok(Secret::new(code.to_string()))
}

/// Exchanges `code` for platform `name`'s customer: `PLATFORM/APPID` once its
/// credential is stored (its token made too, when upstream allows). Failures
/// are printed (then `Silent`).
pub fn add_code(
    s: &mut Session,
    name: &str,
    code: &Secret,
    timeout: Option<Duration>,
) -> Result<String> {
    let link = s.link.clone();
    let p = &link.platform;
    if p.kind == Api::WecomProvider {
        return Err(usage(format!(
            "authorizers add: platform {} is a wecom_provider: its customers install the wecom_suite",
            quoted(name)
        )));
    }
    let key = link
        .store_key
        .clone()
        .ok_or_else(|| anyhow!("platform {}: no store key", quoted(name)))?;
    s.own_token()?;
    let now = clock::now();
    // The same code pending already (the push of the same authorization):
    // that entry is the one exchanged, once.
    let same = s.store.customers(name)?.into_iter().find(|c| {
        c.pending_code.as_ref().is_some_and(|sealed| {
            key.open(sealed, &[name, &c.appid, PENDING_CODE_KIND])
                .is_ok_and(|plain| plain == code.expose())
        })
    });
    let customer = match same {
        Some(c) => c,
        None => {
            let appid = pending_key(code.expose());
            let sealed = key.seal(code.expose(), &[name, &appid, PENDING_CODE_KIND])?;
            let c = Customer {
                platform: name.to_string(),
                appid,
                credential: None,
                pending_code: Some(sealed),
                pending_until: Some(now + CODE_LIFE),
                state: CustomerState::Active,
                info: None,
                authorized_at: Some(now),
                updated_at: now,
            };
            s.store.upsert_customer(&c)?;
            c
        }
    };
    let timeout = timeout.unwrap_or(p.exchange_timeout);
    let client = Client::new(timeout, s.opts.proxy.clone());
    match codes::exchange(s.store.as_mut(), &link, &client, &customer, timeout)? {
        Outcome::Stored(appid) => {
            let pick = Some(vec![appid.clone()]);
            super::platforms::refresh_customers(
                s.store.as_mut(),
                &[(link.clone(), pick)],
                &s.opts,
            )?;
            return Ok(format!("{name}/{appid}"));
        }
        Outcome::Taken => crate::out::errln!(
            "wxtoken: {name}: this code is being exchanged by another run (the push of the same authorization?): see `wxtoken authorizers list --platform {name}` in a minute"
        ),
        Outcome::Spent => crate::out::errln!(
            "wxtoken: {name}: this code was already used (sent upstream within the hour; a code is sent once): nothing changed; see `wxtoken authorizers list --platform {name}`, or send a new link (`wxtoken authorizers link --platform {name}`)"
        ),
        Outcome::Failed => {}
    }
    Err(Silent(Exit::Failure).into())
}
