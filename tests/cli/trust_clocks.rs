//! Clocks that disagree: leases and values written by a clock that ran fast, and
//! a run waiting for another's lease, on SQLite and (`both!`) on PostgreSQL.

use crate::support::{Env, StandIn, both, now};

const APPID: &str = "wx85871939f7f9b647";

/// The stored token: value, fetched_at, expires_at.
fn token_row(env: &Env) -> (String, i64, i64) {
    let rows = env.rows(
        "SELECT value, fetched_at, expires_at FROM wxtoken_tokens WHERE kind = 'access_token'",
    );
    assert_eq!(rows.len(), 1, "one token row");
    let col = |i: usize| rows[0][i].clone().unwrap();
    (col(0), col(1).parse().unwrap(), col(2).parse().unwrap())
}

both! {
    /// A token "fetched" 3 h from now (a fast clock fetched it) looks valid for
    /// 5 h more, but its expiry is just as wrong: it is renewed, with a warning,
    /// and the new token is stored although its fetched_at is the older one.
    fn a_value_fetched_ahead_of_the_clock_is_renewed(backend) {
        let up = StandIn::wechat();
        let env = backend.with(&up);
        env.refresh(&[]).expect(0);
        let planted = now();
        env.exec(&format!(
            "UPDATE wxtoken_tokens SET fetched_at = {}, expires_at = {}",
            planted + 3 * 3600,
            planted + 5 * 3600
        ));
        let run = env.refresh(&[]);
        run.expect(0)
            .stderr_has(&format!("wxtoken: warning: {APPID}: its access_token was fetched "))
            .stderr_has("ahead of this host's clock");
        assert!(
            run.stderr().contains(" 3h 0m ahead") || run.stderr().contains(" 2h 59m ahead"),
            "how far ahead: {}",
            run.stderr()
        );
        assert_eq!(up.count("/cgi-bin/token"), 2, "renewed");
        let (value, fetched, expires) = token_row(&env);
        assert_eq!(value, format!("TOKEN-2-{APPID}"));
        assert!((planted..=now()).contains(&fetched), "fetched_at {fetched} is now");
        assert_eq!(expires - fetched, 7200);
        // Now the clocks agree: the next run finds it fresh and says nothing.
        let again = env.refresh(&[]);
        again.expect(0);
        assert_eq!(again.stderr(), "");
        assert_eq!(up.count("/cgi-bin/token"), 2);
    }
}
