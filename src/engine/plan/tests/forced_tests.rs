//! `--force` and a token another process stored since the run looked: not due
//! itself, it is what a forced ticket is made from only while it is valid.

use super::*;

/// Stored meanwhile, expiring exactly now: renewed for the ticket (a ticket
/// made from it would be refused); valid one second more: the ticket is made
/// from it and nothing else is fetched.
#[test]
fn a_forced_ticket_is_made_from_a_token_stored_meanwhile_only_while_it_is_valid() {
    let t = target(Api::Classic, &[Ticket::Jsapi]);
    for (expires_in, reused) in [(0, false), (1, true), (7200, true)] {
        let mut token = row(TOKEN, expires_in - 7200, expires_in);
        token.value = "NEWER".to_string();
        let stored = [token, fresh(JSAPI)];
        let job = plan_one(&t, &stored, &Counts::new(), NOW_MS, &opts(true));
        let job = job.expect("the forced ticket is due");
        let steps: Vec<(Kind, Reason)> =
            job.steps.iter().map(|s| (s.node.kind, s.reason)).collect();
        let mut want = vec![(JSAPI, Reason::Forced)];
        if !reused {
            want.insert(0, (TOKEN, Reason::Needed));
        }
        assert_eq!(steps, want, "token expiring in {expires_in}s");
        assert_eq!(
            job.stored_inputs.get(&TOKEN).map(String::as_str),
            reused.then_some("NEWER"),
            "token expiring in {expires_in}s"
        );
    }
}
