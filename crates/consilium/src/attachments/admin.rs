//! Operator use cases: purge a case after its retention period (crypto-shredding), rotate
//! the key-encryption key (rewrap case keys, never blobs), sweep orphan blobs, and check
//! that every referenced blob exists and authenticates (N2/N6).

use super::crypto::{self, BlobContext, Key, case_key_context, file_key_context};
use super::repo;
use super::{Attachments, KeySource, write_key_file};
use crate::audit::{self, NewEntry};
use crate::cases::repo as cases;
use crate::directory::repo as dir;
use crate::kernel::{Error, Result};
use crate::platform::{Ctx, Platform};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::time::Duration;

#[derive(Debug, Default, Serialize)]
pub struct RotateReport {
    pub current_key: String,
    pub rewrapped: u64,
    /// TOTP secrets sealed with the current key (they were in clear or under an older key).
    pub totp_resealed: u64,
    /// Webhook secrets sealed with the current key (they were in clear or under an older
    /// key).
    pub webhooks_resealed: u64,
    /// Live case keys per key id after the run.
    pub by_key: Vec<(String, i64)>,
    /// Keys removed from the key file (`--retire`).
    pub retired: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct StoreReport {
    /// Blobs referenced by the database and checked.
    pub checked: u64,
    /// Referenced blobs missing from the store.
    pub missing: Vec<String>,
    /// Referenced blobs that do not authenticate or whose SHA-256 differs from the row.
    pub corrupt: Vec<String>,
    /// Blobs of purged cases (unreadable by design, not checked).
    pub shredded: u64,
    /// Blobs in the store that no row references.
    pub orphans: Vec<String>,
}

impl StoreReport {
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.corrupt.is_empty()
    }
}

impl Platform {
    fn store(&self) -> Result<&Attachments> {
        self.attachments
            .as_deref()
            .ok_or_else(|| Error::Unavailable("no attachment store is configured".into()))
    }

    /// Purges a case whose retention period is over: its data key is destroyed, so every
    /// copy of its blobs (store, backups, replicas) becomes unreadable; the blobs are then
    /// deleted from the store. Only ended cases (closed, declined, cancelled, expired)
    /// whose last change is older than `retention_days`.
    ///
    /// Through the API, only an administrator of an organisation the requester belongs to
    /// may purge (they see no clinical content: the answer is a count); a participant of
    /// the case gets 403, anyone else 404, both audited. The CLI acts as the system.
    pub async fn purge_case(&self, ctx: &Ctx, case_id: &str, retention_days: i64) -> Result<u64> {
        let a = self.store()?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let row = match (cases::get(&mut tx, case_id).await?, ctx.actor.id()) {
            (Some(row), _) => row,
            (None, None) => return Err(Error::NotFound),
            (None, Some(_)) => {
                return self
                    .deny(
                        tx,
                        ctx,
                        NewEntry::denied("case.purge", "case", case_id),
                        Error::NotFound,
                    )
                    .await;
            }
        };
        if let Some(me) = ctx.actor.id() {
            let mine = dir::admin_of(&mut tx, me).await?;
            let theirs = dir::organisations_of(&mut tx, &row.requester_id).await?;
            if !mine.iter().any(|o| theirs.contains(o)) {
                // A participant learns it is not theirs to purge (403); others, nothing (404).
                let (tx, _, _) = self.load_visible(tx, ctx, case_id, "case.purge").await?;
                return self
                    .deny(
                        tx,
                        ctx,
                        NewEntry::denied("case.purge", "case", case_id),
                        Error::Forbidden(
                            "only an administrator of the requesting organisation purges a case"
                                .into(),
                        ),
                    )
                    .await;
            }
        }
        let state = row.state()?;
        if !state.is_terminal() {
            return Err(Error::conflict(
                "only an ended case (closed, declined, cancelled, expired) can be purged",
                Some(row.state.clone()),
            ));
        }
        let ended = row.closed_at.unwrap_or(row.updated_at);
        let until = ended + retention_days.max(0) * 86_400 * 1_000_000;
        if now.micros() < until {
            return Err(Error::conflict(
                format!("the retention period ({retention_days} days) is not over for this case"),
                Some(row.state.clone()),
            ));
        }
        let destroyed = match repo::case_key(&mut tx, case_id).await? {
            Some(k) if k.destroyed_at.is_some() => {
                return Err(Error::Gone("this case was already purged".into()));
            }
            Some(_) => repo::destroy_case_key(&mut tx, case_id, now.micros()).await?,
            None => {
                crate::run!(&mut tx, |c| sqlx::query(
                    "INSERT INTO case_keys (case_id, created_at, destroyed_at) VALUES ($1, $2, $2)"
                )
                .bind(case_id)
                .bind(now.micros())
                .execute(c)
                .await
                .map(|_| ()))?;
                true
            }
        };
        if !destroyed {
            return Err(Error::conflict("the case key changed meanwhile", None));
        }
        let rows = repo::list(&mut tx, case_id).await?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[
                NewEntry::success("case.purge", "case", case_id).with(json!({
                    "attachments": rows.len(),
                    "retention_days": retention_days,
                })),
            ],
        )
        .await?;
        tx.commit().await?;
        // The key is gone: the blobs are already unreadable; deleting them frees the space.
        for r in &rows {
            for k in [
                Some(&r.blob_key),
                r.thumb_blob_key.as_ref(),
                r.original_blob_key.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                if let Err(e) = a.store.delete(k).await {
                    tracing::warn!(blob = %k, error = %e, "purged blob not deleted; the sweep retries");
                }
            }
        }
        Ok(rows.len() as u64)
    }

    /// Rotates the key-encryption key: with a key file, adds a new current key to it; with
    /// `CONSILIUM_MASTER_KEYS`, the last key listed is current. Then rewraps every case key
    /// wrapped by an older key, in small transactions, and reseals the TOTP and webhook
    /// secrets of older keys (or in clear). Interrupted, it leaves each case key and secret
    /// under either key, both still in the key file: run it again. `retire` then removes
    /// from the key file the keys that no case key or sealed secret uses any more.
    pub async fn rotate_keys(
        &self,
        ctx: &Ctx,
        new_key: bool,
        retire: bool,
    ) -> Result<RotateReport> {
        let a = self.store()?;
        if new_key {
            match a.key_source() {
                KeySource::File(path) => {
                    let ring = a.key_source().load()?.with_new_key();
                    write_key_file(path, &ring)?;
                }
                KeySource::Env(_) => {
                    return Err(Error::invalid(
                        "CONSILIUM_MASTER_KEYS",
                        "keys come from the environment: append the new key there (id:base64, last = current) and run 'keys rotate --rewrap-only'",
                    ));
                }
            }
        }
        a.reload()?;
        let (current, kek) = a.current_kek();
        let mut report = RotateReport {
            current_key: current.clone(),
            ..Default::default()
        };
        loop {
            let mut tx = self.db.begin().await?;
            let batch = repo::keys_to_rewrap(&mut tx, &current, 200).await?;
            if batch.is_empty() {
                tx.rollback().await?;
                break;
            }
            let mut n = 0;
            for k in &batch {
                let (Some(old_id), Some(w)) = (&k.kek_id, &k.wrapped) else {
                    continue;
                };
                let old = a.kek(old_id)?;
                let case_key = old
                    .unwrap_key(w, &case_key_context(&k.case_id, old_id))
                    .map_err(|e| Error::Internal(format!("case key of {}: {e}", k.case_id)))?;
                let rewrapped = kek.wrap(&case_key, &case_key_context(&k.case_id, &current));
                if repo::rewrap(&mut tx, &k.case_id, old_id, &current, &rewrapped).await? {
                    n += 1;
                }
            }
            audit::append(
                &mut tx,
                self.now(),
                &ctx.actor,
                &[NewEntry::success("keys.rewrap", "key", &current).with(json!({"case_keys": n}))],
            )
            .await?;
            tx.commit().await?;
            report.rewrapped += n;
        }
        report.totp_resealed = self.reseal_totp_secrets(ctx).await?;
        report.webhooks_resealed = self.reseal_webhook_secrets(ctx).await?;
        let mut tx = self.db.begin().await?;
        report.by_key = repo::keys_by_kek(&mut tx).await?;
        tx.rollback().await?;
        if retire && let KeySource::File(path) = a.key_source() {
            let ring = a.key_source().load()?;
            let mut sealing_keys = self.totp_key_ids().await?;
            sealing_keys.extend(self.webhook_key_ids().await?);
            let used: HashSet<&str> = report
                .by_key
                .iter()
                .map(|(k, _)| k.as_str())
                .chain(sealing_keys.iter().map(String::as_str))
                .collect();
            let (kept, retired) = ring.retain(|id| id == current || used.contains(id));
            write_key_file(path, &kept)?;
            a.reload()?;
            report.retired = retired;
        }
        Ok(report)
    }

    /// Removes temp files and unreferenced blobs older than `grace` (left by uploads that
    /// crashed or failed between writing a blob and committing its row).
    pub async fn sweep_orphans(&self, grace: Duration) -> Result<(usize, usize)> {
        let a = self.store()?;
        let temp = a.store.sweep_temp(grace).await?;
        // Listed before the references are read: a blob published after this listing is not
        // considered, and one listed is older than `grace`, so its upload has ended.
        let listed = a.store.list().await?;
        let referenced = self.referenced_blobs().await?;
        let mut removed = 0;
        for (key, age) in listed {
            if age >= grace && !referenced.contains(&key) {
                a.store.delete(&key).await?;
                removed += 1;
            }
        }
        Ok((temp, removed))
    }

    async fn referenced_blobs(&self) -> Result<HashSet<String>> {
        let mut tx = self.db.begin().await?;
        let keys = repo::all_blob_keys(&mut tx).await?;
        tx.rollback().await?;
        Ok(keys
            .into_iter()
            .flat_map(|(m, t, o)| [Some(m), t, o])
            .flatten()
            .collect())
    }

    /// N2/N6: every blob the database references exists, authenticates, and (main blobs)
    /// has the SHA-256 of its row; lists orphans.
    pub async fn check_store(&self) -> Result<StoreReport> {
        let a = self.store()?;
        let mut tx = self.db.begin().await?;
        let rows = repo::all(&mut tx).await?;
        let mut keys = std::collections::HashMap::new();
        for r in &rows {
            if !keys.contains_key(&r.case_id) {
                let k = repo::case_key(&mut tx, &r.case_id).await?;
                keys.insert(r.case_id.clone(), k);
            }
        }
        tx.rollback().await?;
        let mut report = StoreReport::default();
        let stored: HashSet<String> = a.store.list().await?.into_iter().map(|(k, _)| k).collect();
        let referenced = self.referenced_blobs().await?;
        report.orphans = stored.difference(&referenced).cloned().collect();
        report.orphans.sort();
        for r in &rows {
            let case_key: Key = match keys.get(&r.case_id).cloned().flatten() {
                Some(k) => match (k.kek_id, k.wrapped) {
                    (Some(id), Some(w)) => a
                        .kek(&id)?
                        .unwrap_key(&w, &case_key_context(&r.case_id, &id))
                        .map_err(|e| Error::Internal(format!("case key of {}: {e}", r.case_id)))?,
                    _ => {
                        report.shredded += 1;
                        continue;
                    }
                },
                None => {
                    report.corrupt.push(format!("{}: no case key", r.id));
                    continue;
                }
            };
            let file_key =
                match case_key.unwrap_key(&r.wrapped_key, &file_key_context(&r.case_id, &r.id)) {
                    Ok(k) => k,
                    Err(_) => {
                        report
                            .corrupt
                            .push(format!("{}: file key does not unwrap", r.id));
                        continue;
                    }
                };
            let blobs = [
                Some((r.blob_key.clone(), "main", r.size as u64)),
                r.thumb_blob_key
                    .clone()
                    .zip(r.thumb_size)
                    .map(|(k, s)| (k, "thumb", s as u64)),
            ];
            for (key, role, size) in blobs.into_iter().flatten() {
                report.checked += 1;
                if !stored.contains(&key) {
                    report.missing.push(key);
                    continue;
                }
                let blob = a.store.read_all(&key).await?;
                let ctx = BlobContext {
                    case_id: r.case_id.clone(),
                    blob_id: format!("{}/{role}", r.id),
                };
                match crypto::open_all(&file_key, &ctx, size, &blob) {
                    Ok(pt) if role != "main" || hex::encode(Sha256::digest(&pt)) == r.sha256 => {}
                    _ => report.corrupt.push(key),
                }
            }
        }
        Ok(report)
    }
}
