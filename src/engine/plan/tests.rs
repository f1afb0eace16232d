use std::time::Duration;

use super::*;
use crate::app::{Api, SecretSource, Ticket};
use crate::engine::Role;
use crate::secret::Secret;

const NOW: i64 = 1_795_471_186;
const NOW_MS: i64 = NOW * 1000;
const AHEAD: i64 = 75 * 60;
const H: i64 = 3600;
const TOKEN: Kind = Kind::AccessToken;
const JSAPI: Kind = Kind::Ticket(Ticket::Jsapi);

fn target(api: Api, tickets: &[Ticket]) -> Arc<Target> {
    let app = App {
        name: "shop".to_string(),
        api,
        appid: "wxshop".to_string(),
        secret: SecretSource::Env("S".to_string()),
        tickets: tickets.to_vec(),
        api_base: "http://127.0.0.1:1".to_string(),
        daily_budget: 1800,
        agentid: None,
    };
    // What this run saw first: "TOKEN" for every kind (what `row` stores).
    let seen = Kind::ALL.map(|k| (k, "TOKEN".to_string())).into();
    Arc::new(Target {
        app,
        secret: Some(Secret::new("s3cr3t-unit".to_string())),
        seen,
        role: Role::App,
    })
}

/// A classic row of `kind` for app "shop", fetched and expiring at these
/// offsets from now.
fn row(kind: Kind, fetched: i64, expires: i64) -> Row {
    Row {
        app: "shop".to_string(),
        kind: kind.as_str().to_string(),
        api: "classic".to_string(),
        appid: "wxshop".to_string(),
        value: "TOKEN".to_string(),
        fetched_at: NOW + fetched,
        expires_at: NOW + expires,
        invalidated_at: None,
        source_token: None,
    }
}

fn fresh(kind: Kind) -> Row {
    row(kind, -600, 6600)
}

fn opts(force: bool) -> Options {
    Options {
        force,
        ahead: AHEAD,
        timeout: Duration::from_secs(10),
        jobs: 1,
        proxy: None,
        exchange_timeout: None,
    }
}

/// Token-call statistics of app "shop": (calls, forced, last forced ms ago).
fn counts(calls: i64, forced: i64, last_forced_ago_ms: Option<i64>) -> Counts {
    let stats = Stats {
        app: "shop".to_string(),
        kind: "access_token".to_string(),
        calls,
        forced,
        last_forced_ms: last_forced_ago_ms.map(|ago| NOW_MS - ago),
        ..Stats::default()
    };
    HashMap::from([(("shop".to_string(), "access_token".to_string()), stats)])
}

/// Due steps and their reasons, whether the stored token is reused, a piece of
/// the guard's refusal (empty for none); `None`: nothing due.
type Want = Option<(Vec<(Kind, Reason)>, bool, &'static str)>;

/// One planning case and what it must give.
struct Case {
    what: &'static str,
    api: Api,
    tickets: &'static [Ticket],
    stored: Vec<Row>,
    counts: Counts,
    force: bool,
    want: Want,
}

fn case(what: &'static str, stored: Vec<Row>) -> Case {
    Case {
        what,
        api: Api::Classic,
        tickets: &[],
        stored,
        counts: Counts::new(),
        force: false,
        want: None,
    }
}

#[test]
fn plan_cases() {
    let mut invalidated = fresh(TOKEN);
    invalidated.invalidated_at = Some(NOW - 5);
    let mut stable = fresh(TOKEN);
    stable.api = "stable".to_string();
    let mut other_appid = fresh(TOKEN);
    other_appid.appid = "wxother".to_string();
    let mut replaced = fresh(TOKEN);
    replaced.value = "NEWER".to_string();
    let mut replaced_invalidated = replaced.clone();
    replaced_invalidated.invalidated_at = Some(NOW - 5);
    let cases = [
        case("fresh", vec![fresh(TOKEN)]),
        Case {
            want: Some((vec![(TOKEN, Reason::Missing)], false, "")),
            ..case("missing", vec![])
        },
        Case {
            want: Some((vec![(TOKEN, Reason::NearExpiry)], false, "")),
            ..case("near expiry", vec![row(TOKEN, -2700, AHEAD)])
        },
        Case {
            want: Some((vec![(TOKEN, Reason::Invalidated)], false, "")),
            ..case("invalidated", vec![invalidated.clone()])
        },
        Case {
            want: Some((vec![(TOKEN, Reason::FetchedAhead(3 * H))], false, "")),
            ..case("clock-skewed row", vec![row(TOKEN, 3 * H, 5 * H)])
        },
        Case {
            want: Some((vec![(TOKEN, Reason::Mismatch)], false, "")),
            ..case("another api stored", vec![stable])
        },
        Case {
            want: Some((vec![(TOKEN, Reason::Mismatch)], false, "")),
            ..case("another appid stored", vec![other_appid])
        },
        Case {
            force: true,
            want: Some((vec![(TOKEN, Reason::Forced)], false, "")),
            ..case("forced", vec![fresh(TOKEN)])
        },
        Case {
            force: true,
            ..case("forced, another process stored since", vec![replaced])
        },
        Case {
            api: Api::Stable,
            force: true,
            counts: counts(3, 20, Some(3_600_000)),
            want: Some((
                vec![(TOKEN, Reason::Forced)],
                false,
                "20 forced stable calls in the last 24 hours; WeChat allows 20",
            )),
            ..case("forced stable, 20 a day reached", vec![fresh(TOKEN)])
        },
        Case {
            api: Api::Stable,
            force: true,
            counts: counts(3, 2, Some(10_000)),
            want: Some((vec![(TOKEN, Reason::Forced)], false, "less than 30s ago")),
            ..case("forced stable, 30 s gap", vec![fresh(TOKEN)])
        },
        Case {
            api: Api::Stable,
            force: true,
            counts: counts(3, 2, Some(29_999)),
            want: Some((vec![(TOKEN, Reason::Forced)], false, "less than 30s ago")),
            ..case("forced stable, 1 ms short of the gap", vec![fresh(TOKEN)])
        },
        Case {
            api: Api::Stable,
            force: true,
            counts: counts(3, 2, Some(30_000)),
            want: Some((vec![(TOKEN, Reason::Forced)], false, "")),
            ..case("forced stable, the gap to the ms", vec![fresh(TOKEN)])
        },
        Case {
            api: Api::Stable,
            counts: counts(5000, 20, Some(10_000)),
            want: Some((vec![(TOKEN, Reason::Missing)], false, "")),
            ..case("stable unforced: no guard", vec![])
        },
        Case {
            counts: counts(1800, 0, None),
            want: Some((
                vec![(TOKEN, Reason::Missing)],
                false,
                "1800 token calls in the last 24 hours, daily_budget is 1800",
            )),
            ..case("budget reached", vec![])
        },
        Case {
            counts: counts(1799, 0, None),
            want: Some((vec![(TOKEN, Reason::Missing)], false, "")),
            ..case("budget not reached", vec![])
        },
        Case {
            tickets: &[Ticket::Jsapi],
            want: Some((vec![(JSAPI, Reason::Missing)], true, "")),
            ..case("ticket due, token reused", vec![fresh(TOKEN)])
        },
        Case {
            tickets: &[Ticket::Jsapi],
            want: Some((
                vec![(TOKEN, Reason::NearExpiry), (JSAPI, Reason::NearExpiry)],
                false,
                "",
            )),
            ..case(
                "ticket whose token is renewed in the same run",
                vec![row(TOKEN, -7000, 200), row(JSAPI, -7000, 200)],
            )
        },
        Case {
            tickets: &[Ticket::Jsapi],
            want: Some((vec![(TOKEN, Reason::Invalidated)], false, "")),
            ..case(
                "invalidated token, fresh ticket",
                vec![invalidated, fresh(JSAPI)],
            )
        },
        Case {
            tickets: &[Ticket::Jsapi],
            force: true,
            want: Some((
                vec![(TOKEN, Reason::Needed), (JSAPI, Reason::Forced)],
                false,
                "",
            )),
            ..case(
                "forced ticket, its token replaced and invalidated meanwhile",
                vec![replaced_invalidated, fresh(JSAPI)],
            )
        },
        case(
            "a ticket the app no longer asks for",
            vec![fresh(TOKEN), row(JSAPI, 3600, 10_800)],
        ),
        Case {
            api: Api::Wecom,
            tickets: &[Ticket::AgentConfig, Ticket::Jsapi],
            want: Some((
                vec![
                    (TOKEN, Reason::Missing),
                    (Kind::Ticket(Ticket::AgentConfig), Reason::Missing),
                    (JSAPI, Reason::Missing),
                ],
                false,
                "",
            )),
            ..case("wecom: token first, tickets in config order", vec![])
        },
    ];
    assert!(cases.len() >= 12);
    for c in cases {
        let t = target(c.api, c.tickets);
        // `row` stores classic rows: the case's own API, unless it tests a mismatch.
        let stored: Vec<Row> = (c.stored.into_iter())
            .map(|mut r| {
                if c.api != Api::Classic {
                    r.api = c.api.as_str().to_string();
                }
                r
            })
            .collect();
        let got = plan_one(&t, &stored, &c.counts, NOW_MS, &opts(c.force));
        let got = got.map(|job| {
            let steps: Vec<(Kind, Reason)> =
                job.steps.iter().map(|s| (s.node.kind, s.reason)).collect();
            (
                steps,
                job.stored_inputs.contains_key(&TOKEN),
                job.guard.unwrap_or_default(),
            )
        });
        match (got, c.want) {
            (None, None) => {}
            (Some((steps, reused, guard)), Some((want_steps, want_reused, want_guard))) => {
                assert_eq!(steps, want_steps, "{}", c.what);
                assert_eq!(reused, want_reused, "{}: stored token reused", c.what);
                assert_eq!(
                    guard.is_empty(),
                    want_guard.is_empty(),
                    "{}: {guard}",
                    c.what
                );
                assert!(guard.contains(want_guard), "{}: {guard}", c.what);
            }
            (got, want) => panic!("{}: got {got:?}, want {want:?}", c.what),
        }
    }
}

/// A forced stable call the guard allows carries the count for the warning.
#[test]
fn plan_counts_forced_stable_calls() {
    let t = target(Api::Stable, &[]);
    let mut stable = fresh(TOKEN);
    stable.api = "stable".to_string();
    let job = plan_one(
        &t,
        &[stable],
        &counts(4, 3, Some(60_000)),
        NOW_MS,
        &opts(true),
    );
    assert_eq!(job.unwrap().forced_calls, Some((3, 20)));
    let job = plan_one(&t, &[], &counts(4, 3, None), NOW_MS, &opts(false));
    assert_eq!(job.unwrap().forced_calls, None);
}

/// `plan` keeps the apps' order and leaves the fresh ones out.
#[test]
fn plan_lists_the_due_apps_in_order() {
    let mut apps = Vec::new();
    let mut rows = HashMap::new();
    for (name, stored) in [("a", vec![]), ("b", vec![fresh(TOKEN)]), ("c", vec![])] {
        let mut app = target(Api::Classic, &[]).app.clone();
        app.name = name.to_string();
        apps.push(Arc::new(Target {
            app,
            secret: Some(Secret::new("s".to_string())),
            seen: HashMap::new(),
            role: Role::App,
        }));
        let stored: Vec<Row> = stored
            .into_iter()
            .map(|mut r: Row| {
                r.app = name.to_string();
                r
            })
            .collect();
        rows.insert(name.to_string(), stored);
    }
    let jobs = plan(&apps, &rows, &Counts::new(), NOW_MS, &opts(false));
    let names: Vec<&str> = jobs.iter().map(|j| j.target.app.name.as_str()).collect();
    assert_eq!(names, ["a", "c"]);
    assert_eq!(jobs[0].describe(), "token (missing)");
}

/// `plan` on a stored token fetched and expiring at these offsets from now.
#[test]
fn plan_distrusts_values_from_a_clock_that_ran_fast() {
    // (what, fetched_at - now, expires_at - now, force, due)
    let cases = [
        ("fresh", -600, 6600, false, false),
        (
            "expires exactly at the --ahead boundary",
            -2700,
            AHEAD,
            false,
            true,
        ),
        (
            "expires a second past the boundary",
            -2699,
            AHEAD + 1,
            false,
            false,
        ),
        ("expired", -7300, -100, false, true),
        (
            "fetched 3 h ahead, expires 5 h ahead",
            3 * H,
            5 * H,
            false,
            true,
        ),
        (
            "fetched exactly a minute ahead",
            MAX_CLOCK_SKEW,
            7200,
            false,
            false,
        ),
        (
            "fetched a minute and a second ahead",
            MAX_CLOCK_SKEW + 1,
            7200,
            false,
            true,
        ),
        (
            "far-future expiry, fetched 10 days ahead",
            240 * H,
            242 * H,
            false,
            true,
        ),
        ("far-future expiry, fetched now", 0, 240 * H, false, false),
        ("forced, fetched 3 h ahead", 3 * H, 5 * H, true, true),
    ];
    for (what, fetched, expires, force, due) in cases {
        let stored = [row(TOKEN, fetched, expires)];
        let t = target(Api::Classic, &[]);
        let job = plan_one(&t, &stored, &Counts::new(), NOW_MS, &opts(force));
        assert_eq!(job.is_some(), due, "{what}");
        if let Some(job) = job {
            assert_eq!(job.steps.len(), 1, "{what}");
            assert_eq!(job.steps[0].node.kind, TOKEN, "{what}: the token is due");
            assert!(
                job.stored_inputs.is_empty(),
                "{what}: no stored token is reused"
            );
        }
    }
}

/// A ticket fetched ahead of the clock is due; its token, if sane, is reused.
#[test]
fn plan_renews_a_ticket_from_a_clock_that_ran_fast() {
    let stored = [fresh(TOKEN), row(JSAPI, 3600, 10_800)];
    let t = target(Api::Classic, &[Ticket::Jsapi]);
    let job = plan_one(&t, &stored, &Counts::new(), NOW_MS, &opts(false)).unwrap();
    assert_eq!(
        job.stored_inputs.get(&TOKEN).map(String::as_str),
        Some("TOKEN")
    );
    let steps: Vec<Kind> = job.steps.iter().map(|s| s.node.kind).collect();
    assert_eq!(steps, [JSAPI]);
    // A ticket the app no longer asks for is not looked at.
    let t = target(Api::Classic, &[]);
    assert!(plan_one(&t, &stored, &Counts::new(), NOW_MS, &opts(false)).is_none());
}

#[test]
fn fetched_ahead_counts_from_the_minute() {
    let r = |fetched| row(TOKEN, fetched, 7200);
    assert_eq!(fetched_ahead(&r(-5), NOW), None);
    assert_eq!(fetched_ahead(&r(60), NOW), None);
    assert_eq!(fetched_ahead(&r(61), NOW), Some(61));
    assert_eq!(fetched_ahead(&r(10_800), NOW), Some(10_800));
}

// Test code only, named as such (`*_tests.rs`); the module keeps its name.
#[path = "tests/forced_tests.rs"]
mod forced;
