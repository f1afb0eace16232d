//! A third-party platform's customer as stored (`wxtoken_customers`).

/// The start of a pending WeCom customer's key (`platform::push::pending_key`):
/// a company stored under it until the exchange of its code names its corpid.
pub const PENDING_PREFIX: &str = "pending-";

/// One customer of a platform: an Open Platform authorizer or a WeCom company.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Customer {
    pub platform: String,
    /// The authorizer's appid, or the company's corpid.
    pub appid: String,
    /// The sealed authorizer_refresh_token or permanent_code (`v1:...`).
    pub credential: Option<String>,
    /// A sealed authorization code not exchanged yet.
    pub pending_code: Option<String>,
    pub pending_until: Option<i64>,
    pub state: CustomerState,
    /// What upstream says about the customer (JSON).
    pub info: Option<String>,
    pub authorized_at: Option<i64>,
    pub updated_at: i64,
}

/// What `refresh` writes about a customer with its tokens (in `Commit`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerUpdate {
    pub platform: String,
    pub appid: String,
    /// A rotated credential (sealed); `None` keeps the stored one.
    pub credential: Option<String>,
    pub state: CustomerState,
    pub updated_at: i64,
    /// What upstream says about the customer (JSON); `None` keeps the stored.
    pub info: Option<String>,
}

/// What becomes of a customer's pending one-use code (an authorization code,
/// an auth code): it is sent upstream at most once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeStep {
    /// Marks the code sent, only if it is still this sealed code and was not
    /// sent, and remembers its `key` (`pending-` and a SHA-1 prefix) as sent
    /// until `until`: true when this caller took it (and alone may send it).
    /// A code remembered already (sent before, its exchange maybe finished) is
    /// dropped unsent, as [`CodeStep::Drop`] does, and false.
    Claim {
        sealed: String,
        key: String,
        until: i64,
    },
    /// The request never left (no connection): the code may be sent again,
    /// and is no longer remembered as sent.
    Release { key: String },
    /// True when the code whose key is `key` is remembered as sent.
    Spent { key: String },
    /// The code is forgotten (refused as used or expired, or sent with no
    /// answer): a customer without a credential is marked `reauthorize`
    /// (one known only by a pending key is deleted). True when a credential
    /// remains.
    Drop,
    /// The exchange's answer, stored the moment it is read: the customer is
    /// `appid` (moved there from a pending key), with this sealed
    /// credential and info, active, its code gone.
    Exchanged {
        appid: String,
        credential: String,
        info: Option<String>,
    },
    /// What upstream says about the customer now (`get_auth_info`), kept
    /// only while the customer is active.
    Info { info: String },
    /// A pushed event created `at`: true (and recorded) unless an event
    /// created later was applied to the customer already.
    Event { at: i64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomerState {
    Active,
    /// The customer withdrew the authorization.
    Revoked,
    /// Upstream refused the credential: the customer must authorize again.
    Reauthorize,
}

/// A stored state this wxtoken does not know.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown customer state {} in wxtoken_customers (written by a newer wxtoken, or by hand?)",
    crate::text::quoted(.0)
)]
pub struct UnknownState(pub String);

impl CustomerState {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerState::Active => "active",
            CustomerState::Revoked => "revoked",
            CustomerState::Reauthorize => "reauthorize",
        }
    }

    pub fn parse(s: &str) -> Result<CustomerState, UnknownState> {
        match s {
            "active" => Ok(CustomerState::Active),
            "revoked" => Ok(CustomerState::Revoked),
            "reauthorize" => Ok(CustomerState::Reauthorize),
            _ => Err(UnknownState(s.to_string())),
        }
    }
}

impl rusqlite::types::FromSql for CustomerState {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let s = value.as_str()?;
        CustomerState::parse(s).map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
    }
}

impl<'a> postgres::types::FromSql<'a> for CustomerState {
    fn from_sql(
        ty: &postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let s = <&str as postgres::types::FromSql>::from_sql(ty, raw)?;
        Ok(CustomerState::parse(s)?)
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        <&str as postgres::types::FromSql>::accepts(ty)
    }
}

#[cfg(test)]
mod tests;
