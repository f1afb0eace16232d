//! The table of nodes: every value wxtoken fetches, for apps and for
//! third-party platforms and their customers (facts: `wechat-token-api.md`,
//! `wechat-third-party-api.md`).

use super::{Api, Input, Kind, Lifetime, Method, Node, Param, Quota, Request, Ticket};

/// Errcodes of a ticket endpoint that mean its access token is stale.
const STALE_TOKEN: &[i64] = &[40001, 40014, 42001];
/// Errcodes of a component API that mean the component token is stale (A.5).
const STALE_COMPONENT: &[i64] = &[40001, 40014, 42001];
/// Errcodes of a suite API that mean the suite token is stale (B.5).
const STALE_SUITE: &[i64] = &[40082, 40014, 42009];
const MP_APIS: &[Api] = &[Api::Classic, Api::Stable, Api::OpenPlatform];
const WECOM_APIS: &[Api] = &[Api::Wecom, Api::WecomSuite];
const NEEDS_SECRET: &[Input] = &[Input::Secret];
const NEEDS_TOKEN: &[Input] = &[Input::Credential(Kind::AccessToken)];

/// A ticket node: fetched with the app's access token, by a GET of `path`.
const fn ticket(
    ticket: Ticket,
    apis: &'static [Api],
    path: &'static str,
    params: &'static [(&'static str, Param)],
) -> Node {
    Node {
        kind: Kind::Ticket(ticket),
        apis,
        request: get(path, params),
        field: "ticket",
        needs: NEEDS_TOKEN,
        stale_input: STALE_TOKEN,
        ..BASE
    }
}

/// The parameters of a ticket request that names its type.
const TOKEN_AND_TYPE: &[(&str, Param)] = &[
    ("access_token", Param::Credential),
    ("type", Param::TicketType),
];

/// What the nodes below share unless they say otherwise: an access token in
/// the answer's `access_token`, living as long as its `expires_in` says, no
/// credential or info of a customer's, no stale input, no quota.
const BASE: Node = Node {
    kind: Kind::AccessToken,
    apis: &[],
    request: get("", &[]),
    field: "access_token",
    grant: None,
    info: None,
    needs: &[],
    lifetime: Lifetime::ExpiresIn,
    stale_input: &[],
    quota: Quota::None,
    meanings: &[],
};

/// A GET with `params` as its query.
const fn get(path: &'static str, params: &'static [(&'static str, Param)]) -> Request {
    Request {
        method: Method::Get,
        path,
        params,
        query: &[],
    }
}

/// A POST with `params` as its JSON body and `query` as its query (a
/// platform API's: the platform's token).
const fn post(
    path: &'static str,
    query: &'static [(&'static str, Param)],
    params: &'static [(&'static str, Param)],
) -> Request {
    Request {
        method: Method::PostJson,
        path,
        params,
        query,
    }
}

const COMPONENT_TOKEN_QUERY: &[(&str, Param)] = &[("component_access_token", Param::Credential)];
const SUITE_TOKEN_QUERY: &[(&str, Param)] = &[("suite_access_token", Param::Credential)];

/// A WeCom 代开发 (customized) app's company token (D.7): `gettoken` with the
/// permanent code as the secret ("not the way third-party apps get theirs"),
/// not `get_corp_token`. Not in [`NODES`]: the customers of a suite whose id
/// starts with `dk` take it instead of get_corp_token's node.
pub static CUSTOMIZED_TOKEN: Node = Node {
    apis: &[Api::WecomSuite],
    request: get(
        "/cgi-bin/gettoken",
        &[("corpid", Param::Appid), ("corpsecret", Param::Grant)],
    ),
    needs: &[Input::Grant],
    meanings: PERMANENT_CODE_AS_SECRET,
    ..BASE
};

/// gettoken's errcodes when the secret is a company's permanent code (D.7):
/// the operator has no AppSecret to store; WeCom pushes the new code
/// (`reset_permanent_code`), or the company installs the app again.
const PERMANENT_CODE_AS_SECRET: &[(i64, &str, &str)] = &[(
    40001,
    "the company's permanent code (its secret for this app) was refused",
    "the new one is stored when WeCom pushes reset_permanent_code to `wxtoken push`; otherwise the company must install the app again (`wxtoken authorizers link --platform NAME`)",
)];

/// Every node; a value's node comes after the nodes it needs.
pub static NODES: &[Node] = &[
    Node {
        apis: &[Api::Classic],
        request: get(
            "/cgi-bin/token",
            &[
                ("grant_type", Param::Fixed("client_credential")),
                ("appid", Param::Appid),
                ("secret", Param::Secret),
            ],
        ),
        needs: NEEDS_SECRET,
        quota: Quota::DailyBudget,
        ..BASE
    },
    Node {
        apis: &[Api::Stable],
        request: post(
            "/cgi-bin/stable_token",
            &[],
            &[
                ("grant_type", Param::Fixed("client_credential")),
                ("appid", Param::Appid),
                ("secret", Param::Secret),
                ("force_refresh", Param::Force),
            ],
        ),
        needs: NEEDS_SECRET,
        quota: Quota::Forced {
            per_day: 20,
            gap_ms: 30_000,
        },
        ..BASE
    },
    Node {
        apis: &[Api::Wecom],
        request: get(
            "/cgi-bin/gettoken",
            &[("corpid", Param::Appid), ("corpsecret", Param::Secret)],
        ),
        needs: NEEDS_SECRET,
        ..BASE
    },
    // The tickets pushed to platforms (A.1, B.1): stored by `push`, never
    // fetched; a component_verify_ticket is usable 12 hours after its push,
    // a suite_ticket 30 minutes.
    Node {
        kind: Kind::ComponentVerifyTicket,
        apis: &[Api::OpenPlatform],
        field: "ComponentVerifyTicket",
        lifetime: Lifetime::Pushed(12 * 3600),
        ..BASE
    },
    Node {
        kind: Kind::SuiteTicket,
        apis: &[Api::WecomSuite],
        field: "SuiteTicket",
        lifetime: Lifetime::Pushed(30 * 60),
        ..BASE
    },
    // Open Platform (A.3, A.4, A.5): the component's token from its pushed
    // ticket; an authorizer's first token from its authorization code, later
    // ones from its refresh token.
    Node {
        kind: Kind::ComponentAccessToken,
        apis: &[Api::OpenPlatform],
        request: post(
            "/cgi-bin/component/api_component_token",
            &[],
            &[
                ("component_appid", Param::Appid),
                ("component_appsecret", Param::Secret),
                ("component_verify_ticket", Param::Pushed),
            ],
        ),
        field: "component_access_token",
        needs: &[Input::Secret, Input::Pushed(Kind::ComponentVerifyTicket)],
        ..BASE
    },
    Node {
        apis: &[Api::OpenPlatform],
        request: post(
            "/cgi-bin/component/api_query_auth",
            COMPONENT_TOKEN_QUERY,
            &[
                ("component_appid", Param::PlatformAppid),
                ("authorization_code", Param::Grant),
            ],
        ),
        field: "authorization_info.authorizer_access_token",
        grant: Some("authorization_info.authorizer_refresh_token"),
        needs: &[Input::Platform(Kind::ComponentAccessToken), Input::Code],
        stale_input: STALE_COMPONENT,
        ..BASE
    },
    Node {
        apis: &[Api::OpenPlatform],
        request: post(
            "/cgi-bin/component/api_authorizer_token",
            COMPONENT_TOKEN_QUERY,
            &[
                ("component_appid", Param::PlatformAppid),
                ("authorizer_appid", Param::Appid),
                ("authorizer_refresh_token", Param::Grant),
            ],
        ),
        field: "authorizer_access_token",
        grant: Some("authorizer_refresh_token"),
        needs: &[Input::Platform(Kind::ComponentAccessToken), Input::Grant],
        stale_input: STALE_COMPONENT,
        ..BASE
    },
    // WeCom suites (B.2, B.3): the suite's token from its pushed ticket; a
    // company's first token with its permanent code, later ones from it.
    Node {
        kind: Kind::SuiteAccessToken,
        apis: &[Api::WecomSuite],
        request: post(
            "/cgi-bin/service/get_suite_token",
            &[],
            &[
                ("suite_id", Param::Appid),
                ("suite_secret", Param::Secret),
                ("suite_ticket", Param::Pushed),
            ],
        ),
        field: "suite_access_token",
        needs: &[Input::Secret, Input::Pushed(Kind::SuiteTicket)],
        ..BASE
    },
    Node {
        apis: &[Api::WecomSuite],
        request: post(
            "/cgi-bin/service/get_permanent_code",
            SUITE_TOKEN_QUERY,
            &[("auth_code", Param::Grant)],
        ),
        grant: Some("permanent_code"),
        info: Some("auth_corp_info"),
        needs: &[Input::Platform(Kind::SuiteAccessToken), Input::Code],
        stale_input: STALE_SUITE,
        ..BASE
    },
    Node {
        apis: &[Api::WecomSuite],
        request: post(
            "/cgi-bin/service/get_corp_token",
            SUITE_TOKEN_QUERY,
            &[
                ("auth_corpid", Param::Appid),
                ("permanent_code", Param::Grant),
            ],
        ),
        needs: &[Input::Platform(Kind::SuiteAccessToken), Input::Grant],
        stale_input: STALE_SUITE,
        ..BASE
    },
    // A WeCom service provider's own token (B.4).
    Node {
        kind: Kind::ProviderAccessToken,
        apis: &[Api::WecomProvider],
        request: post(
            "/cgi-bin/service/get_provider_token",
            &[],
            &[("corpid", Param::Appid), ("provider_secret", Param::Secret)],
        ),
        field: "provider_access_token",
        needs: NEEDS_SECRET,
        ..BASE
    },
    ticket(
        Ticket::Jsapi,
        MP_APIS,
        "/cgi-bin/ticket/getticket",
        TOKEN_AND_TYPE,
    ),
    ticket(
        Ticket::WxCard,
        MP_APIS,
        "/cgi-bin/ticket/getticket",
        TOKEN_AND_TYPE,
    ),
    ticket(
        Ticket::Jsapi,
        WECOM_APIS,
        "/cgi-bin/get_jsapi_ticket",
        &[("access_token", Param::Credential)],
    ),
    ticket(
        Ticket::AgentConfig,
        WECOM_APIS,
        "/cgi-bin/ticket/get",
        TOKEN_AND_TYPE,
    ),
];
