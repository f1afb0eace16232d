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
/// A component_verify_ticket is valid 12 hours after its push (A.1).
const VERIFY_TICKET_LIFE: i64 = 12 * 3600;
/// A suite_ticket is valid 30 minutes after its push (B.1).
const SUITE_TICKET_LIFE: i64 = 30 * 60;

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
        request: Request {
            method: Method::Get,
            path,
            params,
            query: &[],
        },
        field: "ticket",
        grant: None,
        info: None,
        needs: NEEDS_TOKEN,
        lifetime: Lifetime::ExpiresIn,
        stale_input: STALE_TOKEN,
        quota: Quota::None,
    }
}

/// The parameters of a ticket request that names its type.
const TOKEN_AND_TYPE: &[(&str, Param)] = &[
    ("access_token", Param::Credential),
    ("type", Param::TicketType),
];

/// An access-token node: fetched with the app's secret.
const fn token(api: &'static [Api], request: Request, quota: Quota) -> Node {
    secret_token(
        Kind::AccessToken,
        api,
        request,
        "access_token",
        NEEDS_SECRET,
        quota,
    )
}

/// A token made from a secret (and, for a platform, its pushed ticket).
const fn secret_token(
    kind: Kind,
    apis: &'static [Api],
    request: Request,
    field: &'static str,
    needs: &'static [Input],
    quota: Quota,
) -> Node {
    Node {
        kind,
        apis,
        request,
        field,
        grant: None,
        info: None,
        needs,
        lifetime: Lifetime::ExpiresIn,
        stale_input: &[],
        quota,
    }
}

/// A POST with a JSON body.
const fn post(path: &'static str, params: &'static [(&'static str, Param)]) -> Request {
    Request {
        method: Method::PostJson,
        path,
        params,
        query: &[],
    }
}

/// A customer's token: a POST to a platform API, with the platform's token
/// as the query parameter `token_param`.
#[allow(clippy::too_many_arguments)]
const fn customer_token(
    api: &'static [Api],
    path: &'static str,
    token_param: &'static [(&'static str, Param)],
    params: &'static [(&'static str, Param)],
    needs: &'static [Input],
    field: &'static str,
    grant: Option<&'static str>,
    info: Option<&'static str>,
    stale_input: &'static [i64],
) -> Node {
    Node {
        kind: Kind::AccessToken,
        apis: api,
        request: Request {
            method: Method::PostJson,
            path,
            params,
            query: token_param,
        },
        field,
        grant,
        info,
        needs,
        lifetime: Lifetime::ExpiresIn,
        stale_input,
        quota: Quota::None,
    }
}

const COMPONENT_TOKEN_QUERY: &[(&str, Param)] = &[("component_access_token", Param::Credential)];
const SUITE_TOKEN_QUERY: &[(&str, Param)] = &[("suite_access_token", Param::Credential)];

/// A WeCom 代开发 (customized) app's company token (D.7): `gettoken` with the
/// permanent code as the secret ("not the way third-party apps get theirs"),
/// not `get_corp_token`. Not in [`NODES`]: the customers of a suite whose id
/// starts with `dk` take it instead of get_corp_token's node.
pub static CUSTOMIZED_TOKEN: Node = Node {
    kind: Kind::AccessToken,
    apis: &[Api::WecomSuite],
    request: Request {
        method: Method::Get,
        path: "/cgi-bin/gettoken",
        params: &[("corpid", Param::Appid), ("corpsecret", Param::Grant)],
        query: &[],
    },
    field: "access_token",
    grant: None,
    info: None,
    needs: &[Input::Platform(Kind::SuiteAccessToken), Input::Grant],
    lifetime: Lifetime::ExpiresIn,
    stale_input: &[],
    quota: Quota::None,
};

/// Every node; a value's node comes after the nodes it needs.
pub static NODES: &[Node] = &[
    token(
        &[Api::Classic],
        Request {
            method: Method::Get,
            path: "/cgi-bin/token",
            params: &[
                ("grant_type", Param::Fixed("client_credential")),
                ("appid", Param::Appid),
                ("secret", Param::Secret),
            ],
            query: &[],
        },
        Quota::DailyBudget,
    ),
    token(
        &[Api::Stable],
        post(
            "/cgi-bin/stable_token",
            &[
                ("grant_type", Param::Fixed("client_credential")),
                ("appid", Param::Appid),
                ("secret", Param::Secret),
                ("force_refresh", Param::Force),
            ],
        ),
        Quota::Forced {
            per_day: 20,
            gap_ms: 30_000,
        },
    ),
    token(
        &[Api::Wecom],
        Request {
            method: Method::Get,
            path: "/cgi-bin/gettoken",
            params: &[("corpid", Param::Appid), ("corpsecret", Param::Secret)],
            query: &[],
        },
        Quota::None,
    ),
    // Open Platform (A.3, A.4, A.5): the component's token from its pushed
    // ticket; an authorizer's first token from its authorization code, later
    // ones from its refresh token.
    secret_token(
        Kind::ComponentAccessToken,
        &[Api::OpenPlatform],
        post(
            "/cgi-bin/component/api_component_token",
            &[
                ("component_appid", Param::Appid),
                ("component_appsecret", Param::Secret),
                ("component_verify_ticket", Param::Pushed),
            ],
        ),
        "component_access_token",
        &[
            Input::Secret,
            Input::Pushed {
                kind: Kind::ComponentVerifyTicket,
                max_age: VERIFY_TICKET_LIFE,
            },
        ],
        Quota::None,
    ),
    customer_token(
        &[Api::OpenPlatform],
        "/cgi-bin/component/api_query_auth",
        COMPONENT_TOKEN_QUERY,
        &[
            ("component_appid", Param::PlatformAppid),
            ("authorization_code", Param::Grant),
        ],
        &[Input::Platform(Kind::ComponentAccessToken), Input::Code],
        "authorization_info.authorizer_access_token",
        Some("authorization_info.authorizer_refresh_token"),
        None,
        STALE_COMPONENT,
    ),
    customer_token(
        &[Api::OpenPlatform],
        "/cgi-bin/component/api_authorizer_token",
        COMPONENT_TOKEN_QUERY,
        &[
            ("component_appid", Param::PlatformAppid),
            ("authorizer_appid", Param::Appid),
            ("authorizer_refresh_token", Param::Grant),
        ],
        &[Input::Platform(Kind::ComponentAccessToken), Input::Grant],
        "authorizer_access_token",
        Some("authorizer_refresh_token"),
        None,
        STALE_COMPONENT,
    ),
    // WeCom suites (B.2, B.3): the suite's token from its pushed ticket; a
    // company's first token with its permanent code, later ones from it.
    secret_token(
        Kind::SuiteAccessToken,
        &[Api::WecomSuite],
        post(
            "/cgi-bin/service/get_suite_token",
            &[
                ("suite_id", Param::Appid),
                ("suite_secret", Param::Secret),
                ("suite_ticket", Param::Pushed),
            ],
        ),
        "suite_access_token",
        &[
            Input::Secret,
            Input::Pushed {
                kind: Kind::SuiteTicket,
                max_age: SUITE_TICKET_LIFE,
            },
        ],
        Quota::None,
    ),
    customer_token(
        &[Api::WecomSuite],
        "/cgi-bin/service/get_permanent_code",
        SUITE_TOKEN_QUERY,
        &[("auth_code", Param::Grant)],
        &[Input::Platform(Kind::SuiteAccessToken), Input::Code],
        "access_token",
        Some("permanent_code"),
        Some("auth_corp_info"),
        STALE_SUITE,
    ),
    customer_token(
        &[Api::WecomSuite],
        "/cgi-bin/service/get_corp_token",
        SUITE_TOKEN_QUERY,
        &[
            ("auth_corpid", Param::Appid),
            ("permanent_code", Param::Grant),
        ],
        &[Input::Platform(Kind::SuiteAccessToken), Input::Grant],
        "access_token",
        None,
        None,
        STALE_SUITE,
    ),
    // A WeCom service provider's own token (B.4).
    secret_token(
        Kind::ProviderAccessToken,
        &[Api::WecomProvider],
        post(
            "/cgi-bin/service/get_provider_token",
            &[("corpid", Param::Appid), ("provider_secret", Param::Secret)],
        ),
        "provider_access_token",
        NEEDS_SECRET,
        Quota::None,
    ),
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
