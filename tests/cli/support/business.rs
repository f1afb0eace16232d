//! A business API on top of a token stand-in, for the SDK adapters' tests:
//! `GET /cgi-bin/getcallbackip` answers when its `access_token` is one the
//! stand-in issued and did not reject (40001 otherwise);
//! `/standin/reject?access_token=T` makes T answer 40001 from now on (a token
//! killed elsewhere, on demand); `/standin/calls?path=P` counts the requests to
//! `P` so far, lists the access tokens they carried, and counts those that
//! carried a secret (wxtoken's token calls do; an SDK given none cannot).

use std::collections::HashSet;
use std::sync::Mutex;

use super::standin::{Reply, Request};

#[derive(Default)]
struct Books {
    issued: HashSet<String>,
    rejected: HashSet<String>,
    /// Every request: its path, its `access_token`, whether it had a secret.
    calls: Vec<(String, Option<String>, bool)>,
}

/// `inner` (the token endpoints), with the business API and the controls.
pub fn wrap(
    inner: impl Fn(&Request) -> Reply + Send + Sync,
) -> impl Fn(&Request) -> Reply + Send + Sync {
    let books = Mutex::new(Books::default());
    move |req: &Request| {
        let token = req.param("access_token");
        let mut b = books.lock().unwrap();
        match req.path.as_str() {
            "/standin/reject" => {
                b.rejected.extend(token);
                return Reply::json("{}");
            }
            "/standin/calls" => {
                let path = req.param("path").unwrap_or_default();
                let calls: Vec<_> = b.calls.iter().filter(|c| c.0 == path).collect();
                let tokens: Vec<&Option<String>> = calls.iter().map(|c| &c.1).collect();
                let with_secret = calls.iter().filter(|c| c.2).count();
                let body = serde_json::json!({
                    "count": calls.len(),
                    "access_tokens": tokens,
                    "with_secret": with_secret,
                });
                return Reply::json(body.to_string());
            }
            _ => {}
        }
        let secret = req.param("secret").is_some_and(|s| !s.is_empty());
        b.calls.push((req.path.clone(), token.clone(), secret));
        if req.path == "/cgi-bin/getcallbackip" {
            return match token {
                Some(t) if b.issued.contains(&t) && !b.rejected.contains(&t) => {
                    Reply::json(r#"{"ip_list":["127.0.0.1"]}"#)
                }
                Some(t) if b.issued.contains(&t) => Reply::errcode(40001, "invalid credential"),
                _ => Reply::errcode(
                    40001,
                    "invalid credential, access_token is invalid or not latest",
                ),
            };
        }
        drop(b);
        let reply = inner(req);
        if let Ok(body) = serde_json::from_slice::<serde_json::Value>(&reply.body)
            && let Some(t) = body.get("access_token").and_then(|t| t.as_str())
        {
            books.lock().unwrap().issued.insert(t.to_string());
        }
        reply
    }
}
