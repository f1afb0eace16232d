//! `wxtoken invalidate`: mark a stored token (or ticket) unusable, so that `show`
//! exits 3 and the next `refresh` fetches. With `--if-token`, only if the stored
//! value is still that token: a caller that saw 40001 cannot throw away a fresher
//! token another process already stored.

use anyhow::Result;

use crate::app::Kind;
use crate::clock;
use crate::error::usage;
use crate::store::{Invalidated, Store};

pub fn run(store: &mut dyn Store, app: &str, kind: Kind, if_token: Option<&str>) -> Result<()> {
    let what = kind.label();
    match store.invalidate(app, kind.as_str(), if_token, clock::now())? {
        Invalidated::Done => {
            log::info!("{app}: {what} invalidated; the next `wxtoken refresh` fetches a new one");
        }
        Invalidated::Mismatch => crate::out::errln!(
            "wxtoken: {app}: the stored {what} is not the one given with --if-token: a newer one is already stored; nothing invalidated"
        ),
        Invalidated::Already => {
            crate::out::errln!("wxtoken: {app}: the stored {what} was already invalidated")
        }
        Invalidated::Missing => {
            return Err(usage(format!(
                "no {what} stored for app {app:?}: nothing to invalidate (see `wxtoken status`)"
            )));
        }
    }
    Ok(())
}
