//! Kargo mode's records: for each refresh a delivery asked for (`refresh_links`, written with the
//! delivery in one transaction), the annotation token that carried it, when the patch landed,
//! when Kargo's controller handled it (`status.lastHandledRefresh` reached the token), or why it
//! was dropped.
//!
//! A patch covers every request of its Warehouse up to the pending sequence it started with:
//! coalesced deliveries share one token.

use std::collections::HashMap;

use rusqlite::params;
use serde::Serialize;

use super::{Delivery, Store, StoreError};

/// One refresh of one delivery, as `GET /api/v1/deliveries` shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRecord {
    /// `project/name`.
    pub warehouse: String,
    /// The `kargo.akuity.io/refresh` value patched; null until the patch lands.
    pub token: Option<String>,
    pub patched_at: Option<String>,
    /// When the Warehouse watch saw `status.lastHandledRefresh` reach the token.
    pub handled_at: Option<String>,
    /// Why the refresh was dropped (the Warehouse is gone) or failed for good.
    pub error: Option<String>,
}

impl Store {
    /// Records the outcome of the patch that covered the requests of (project, name) up to
    /// `seq`: the token and time it landed, or the error that ended it.
    pub async fn kargo_patched(
        &self,
        project: &str,
        name: &str,
        seq: u64,
        token: Option<String>,
        at: String,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        let (project, name) = (project.to_string(), name.to_string());
        self.exec(Box::new(move |tx| {
            tx.prepare_cached(
                "UPDATE refresh_links SET token = ?4, patched_at = ?5, error = ?6
                 WHERE project = ?1 AND name = ?2 AND seq <= ?3
                   AND token IS NULL AND error IS NULL",
            )?
            .execute(params![
                project,
                name,
                seq as i64,
                token,
                token.as_ref().map(|_| &at),
                error
            ])?;
            Ok(Vec::new())
        }))
        .await
        .map(|_| ())
    }

    /// Kargo handled (project, name) up to `last_handled`: tokens are fixed-width RFC 3339 UTC,
    /// so every token not after it was handled too (a later patch can supersede an earlier one
    /// before Kargo's controller saw it).
    pub async fn kargo_handled(
        &self,
        project: &str,
        name: &str,
        last_handled: &str,
        at: String,
    ) -> Result<(), StoreError> {
        let (project, name, last) = (
            project.to_string(),
            name.to_string(),
            last_handled.to_string(),
        );
        self.exec(Box::new(move |tx| {
            tx.prepare_cached(
                "UPDATE refresh_links SET handled_at = ?4
                 WHERE project = ?1 AND name = ?2 AND token IS NOT NULL AND token <= ?3
                   AND handled_at IS NULL",
            )?
            .execute(params![project, name, last, at])?;
            Ok(Vec::new())
        }))
        .await
        .map(|_| ())
    }

    /// Tokens patched and not yet seen handled, as (project, name, token): what the Warehouse
    /// watch must look for after a restart.
    pub fn kargo_outstanding(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT DISTINCT project, name, token FROM refresh_links
                 WHERE token IS NOT NULL AND handled_at IS NULL",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
    }

    /// Fills in `refreshes` of each delivery.
    pub fn attach_refreshes(&self, deliveries: &mut [Delivery]) -> Result<(), StoreError> {
        let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
        let mut found: HashMap<String, Vec<RefreshRecord>> = self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT project, name, token, patched_at, handled_at, error
                 FROM refresh_links WHERE delivery_id = ?1 ORDER BY project, name",
            )?;
            let mut out = HashMap::new();
            for id in ids {
                let rows = stmt.query_map([&id], |r| {
                    Ok(RefreshRecord {
                        warehouse: format!("{}/{}", r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                        token: r.get(2)?,
                        patched_at: r.get(3)?,
                        handled_at: r.get(4)?,
                        error: r.get(5)?,
                    })
                })?;
                let list = rows.collect::<rusqlite::Result<Vec<_>>>()?;
                if !list.is_empty() {
                    out.insert(id, list);
                }
            }
            Ok(out)
        })?;
        for d in deliveries {
            if let Some(list) = found.remove(&d.id) {
                d.refreshes = list;
            }
        }
        Ok(())
    }
}
