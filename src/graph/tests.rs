use super::*;

#[test]
fn names_round_trip() {
    for k in Kind::ALL {
        assert_eq!(Kind::parse(k.as_str()), Some(k));
    }
    for a in [Api::Classic, Api::Stable, Api::Wecom] {
        assert_eq!(Api::parse(a.as_str()), Some(a));
    }
    for t in [Ticket::Jsapi, Ticket::WxCard, Ticket::AgentConfig] {
        assert_eq!(Ticket::parse(t.as_str()), Some(t));
    }
    for o in [
        Outcome::Ok,
        Outcome::Error,
        Outcome::Refused,
        Outcome::Unreached,
    ] {
        assert_eq!(Outcome::parse(o.as_str()), Some(o));
    }
    assert_eq!(
        Kind::parse("component_access_token"),
        Some(Kind::ComponentAccessToken)
    );
    assert_eq!(Kind::parse("authorizer_refresh_token"), None);
    assert_eq!(Api::parse("open_platform"), None, "not an app's api");
}

/// Every API has one token node, every node's inputs come before it, and
/// the tickets each API offers are the documented ones.
#[test]
fn the_graph_is_complete_and_ordered() {
    for api in [Api::Classic, Api::Stable, Api::Wecom] {
        assert!(node(api, Kind::AccessToken).is_some(), "{api:?}");
        for (i, n) in NODES.iter().enumerate() {
            if let Some(input) = n.credential_input().filter(|_| n.apis.contains(&api)) {
                let at = NODES
                    .iter()
                    .position(|m| m.kind == input && m.apis.contains(&api));
                assert!(at.is_some_and(|at| at < i), "{:?} before its input", n.kind);
            }
        }
    }
    assert_eq!(Api::Classic.tickets(), [Ticket::Jsapi, Ticket::WxCard]);
    assert_eq!(Api::Wecom.tickets(), [Ticket::Jsapi, Ticket::AgentConfig]);
    assert!(node(Api::Stable, Kind::AccessToken).unwrap().forceable());
    assert!(!node(Api::Classic, Kind::AccessToken).unwrap().forceable());
}

/// Each platform kind has its own token node, made from its secret (and its
/// pushed ticket), and its customers' tokens from the platform's token: from
/// a pending code, or from the stored credential.
#[test]
fn platforms_make_their_tokens_and_their_customers() {
    let own = [
        (
            Api::OpenPlatform,
            Kind::ComponentAccessToken,
            Some(Kind::ComponentVerifyTicket),
        ),
        (
            Api::WecomSuite,
            Kind::SuiteAccessToken,
            Some(Kind::SuiteTicket),
        ),
        (Api::WecomProvider, Kind::ProviderAccessToken, None),
    ];
    for (api, kind, pushed) in own {
        let n = node(api, kind).unwrap();
        assert_eq!(n.pushed_input().map(|(k, _)| k), pushed, "{api:?}");
        assert!(n.needs.contains(&Input::Secret));
    }
    for (api, platform) in [
        (Api::OpenPlatform, Kind::ComponentAccessToken),
        (Api::WecomSuite, Kind::SuiteAccessToken),
    ] {
        let refresh = node(api, Kind::AccessToken).unwrap();
        let exchange = exchange_node(api).unwrap();
        assert!(!refresh.takes_code() && exchange.takes_code());
        assert!(refresh.needs.contains(&Input::Grant));
        assert_eq!(api.token_kind(), platform);
        assert!(std::ptr::eq(
            customer_token_node(api, false).unwrap(),
            refresh
        ));
        for n in [refresh, exchange] {
            assert!(n.needs_platform() && n.needs.contains(&Input::Platform(platform)));
            assert!(!n.stale_input.is_empty());
            assert!(!n.request.query.is_empty());
        }
        assert!(exchange.grant.is_some());
    }
    // A 代开发 company's token: gettoken with its permanent code, made
    // without the suite's token.
    let customized = customer_token_node(Api::WecomSuite, true).unwrap();
    assert!(!customized.needs_platform() && customized.needs.contains(&Input::Grant));
    assert_eq!(customized.request.path, "/cgi-bin/gettoken");
    assert_eq!(Api::OpenPlatform.tickets(), [Ticket::Jsapi, Ticket::WxCard]);
    assert_eq!(
        Api::WecomSuite.tickets(),
        [Ticket::Jsapi, Ticket::AgentConfig]
    );
    assert!(node(Api::WecomProvider, Kind::AccessToken).is_none());
    // Pushed tickets are nodes of their own, with their lifetimes (A.1, B.1).
    assert_eq!(
        Api::OpenPlatform.pushed_ticket(),
        Some((Kind::ComponentVerifyTicket, 12 * 3600))
    );
    assert_eq!(
        Api::WecomSuite.pushed_ticket(),
        Some((Kind::SuiteTicket, 30 * 60))
    );
    assert_eq!(Api::WecomProvider.pushed_ticket(), None);
    assert!(Kind::ComponentVerifyTicket.is_pushed() && !Kind::SuiteAccessToken.is_pushed());
}
