//! Pure part of the audit trail: the canonical encoding, the hash chain and its verifier.

use crate::kernel::Timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
        }
    }
}

/// What a use case asks to record.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub action: String,
    pub object_type: &'static str,
    pub object_id: String,
    pub outcome: Outcome,
    pub details: serde_json::Value,
}

impl NewEntry {
    pub fn success(
        action: impl Into<String>,
        object_type: &'static str,
        object_id: impl Into<String>,
    ) -> Self {
        Self {
            action: action.into(),
            object_type,
            object_id: object_id.into(),
            outcome: Outcome::Success,
            details: serde_json::Value::Object(Default::default()),
        }
    }
    pub fn denied(
        action: impl Into<String>,
        object_type: &'static str,
        object_id: impl Into<String>,
    ) -> Self {
        Self {
            outcome: Outcome::Denied,
            ..Self::success(action, object_type, object_id)
        }
    }
    pub fn with(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// A row of `audit_log` as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredEntry {
    pub seq: i64,
    pub at: i64,
    pub actor_id: Option<String>,
    pub actor_label: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub outcome: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

fn field(h: &mut Sha256, v: Option<&[u8]>) {
    match v {
        Some(b) => {
            h.update((b.len() as u64).to_be_bytes());
            h.update(b);
        }
        None => h.update(u64::MAX.to_be_bytes()),
    }
}

/// SHA-256 over a length-prefixed encoding of every field and the previous hash, so no
/// two different entries encode the same way.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    seq: i64,
    at: i64,
    actor_id: Option<&str>,
    actor_label: &str,
    action: &str,
    object_type: &str,
    object_id: &str,
    outcome: &str,
    details: &str,
    prev_hash: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(b"consilium-audit-v1");
    h.update(seq.to_be_bytes());
    h.update(at.to_be_bytes());
    field(&mut h, actor_id.map(str::as_bytes));
    field(&mut h, Some(actor_label.as_bytes()));
    field(&mut h, Some(action.as_bytes()));
    field(&mut h, Some(object_type.as_bytes()));
    field(&mut h, Some(object_id.as_bytes()));
    field(&mut h, Some(outcome.as_bytes()));
    field(&mut h, Some(details.as_bytes()));
    field(&mut h, Some(prev_hash.as_bytes()));
    hex::encode(h.finalize())
}

impl StoredEntry {
    pub fn computed_hash(&self) -> String {
        entry_hash(
            self.seq,
            self.at,
            self.actor_id.as_deref(),
            &self.actor_label,
            &self.action,
            &self.object_type,
            &self.object_id,
            &self.outcome,
            &self.details,
            &self.prev_hash,
        )
    }
}

/// Where and how the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub enum Break {
    #[error("entry {found} found where {expected} was expected: entries are missing or reordered")]
    SequenceGap { expected: i64, found: i64 },
    #[error("entry {seq} does not point to the hash of entry {}: an entry before it was changed, removed or swapped", seq - 1)]
    PrevHashMismatch { seq: i64 },
    #[error("entry {seq} does not match its own hash: it was edited")]
    HashMismatch { seq: i64 },
    #[error(
        "the chain ends at entry {last} but the head records entry {head}: the tail was truncated or the head altered"
    )]
    HeadMismatch { last: i64, head: i64 },
    #[error(
        "entry {seq} differs from the exported checkpoint: the chain was rewritten from there or before"
    )]
    CheckpointMismatch { seq: i64 },
    #[error(
        "the chain ends at entry {last}, before the exported checkpoint at entry {checkpoint}: an older copy was restored or the tail removed"
    )]
    BehindCheckpoint { checkpoint: i64, last: i64 },
}

/// A (sequence, hash) pair exported outside the database: a later chain must contain it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    /// When it was taken (RFC 3339), informative.
    #[serde(default)]
    pub at: Option<String>,
}

impl Break {
    /// The first entry at fault.
    pub fn seq(&self) -> i64 {
        match self {
            Break::SequenceGap { expected, .. } => *expected,
            Break::PrevHashMismatch { seq } | Break::HashMismatch { seq } => *seq,
            Break::HeadMismatch { last, .. } => *last + 1,
            Break::CheckpointMismatch { seq } => *seq,
            Break::BehindCheckpoint { last, .. } => *last + 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub entries: u64,
    pub last_seq: i64,
    pub last_hash: String,
}

/// Walks the chain in sequence order. Feed every entry, then `finish` with the head.
#[derive(Debug)]
pub struct Verifier {
    next_seq: i64,
    prev_hash: String,
    count: u64,
    checkpoints: std::collections::BTreeMap<i64, String>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            next_seq: 1,
            prev_hash: GENESIS_HASH.to_string(),
            count: 0,
            checkpoints: Default::default(),
        }
    }
}

impl Verifier {
    /// A verifier that also checks the chain against exported checkpoints.
    pub fn with_checkpoints(checkpoints: &[Checkpoint]) -> Self {
        Self {
            checkpoints: checkpoints
                .iter()
                .map(|c| (c.seq, c.hash.clone()))
                .collect(),
            ..Self::default()
        }
    }

    pub fn feed(&mut self, e: &StoredEntry) -> Result<(), Break> {
        if e.seq != self.next_seq {
            return Err(Break::SequenceGap {
                expected: self.next_seq,
                found: e.seq,
            });
        }
        if e.prev_hash != self.prev_hash {
            return Err(Break::PrevHashMismatch { seq: e.seq });
        }
        if e.computed_hash() != e.hash {
            return Err(Break::HashMismatch { seq: e.seq });
        }
        if let Some(h) = self.checkpoints.get(&e.seq)
            && *h != e.hash
        {
            return Err(Break::CheckpointMismatch { seq: e.seq });
        }
        self.prev_hash.clone_from(&e.hash);
        self.next_seq += 1;
        self.count += 1;
        Ok(())
    }

    pub fn finish(self, head_seq: i64, head_hash: &str) -> Result<VerifyReport, Break> {
        let last = self.next_seq - 1;
        if let Some((&checkpoint, _)) = self.checkpoints.last_key_value()
            && checkpoint > last
        {
            return Err(Break::BehindCheckpoint { checkpoint, last });
        }
        if head_seq != last || head_hash != self.prev_hash {
            return Err(Break::HeadMismatch {
                last,
                head: head_seq,
            });
        }
        Ok(VerifyReport {
            entries: self.count,
            last_seq: last,
            last_hash: self.prev_hash,
        })
    }
}

/// Builds the stored rows for new entries chained after `(prev_seq, prev_hash)`.
pub fn chain(
    prev_seq: i64,
    prev_hash: &str,
    at: Timestamp,
    actor_id: Option<&str>,
    actor_label: &str,
    entries: &[NewEntry],
) -> Vec<StoredEntry> {
    let mut out = Vec::with_capacity(entries.len());
    let mut prev = prev_hash.to_string();
    for (i, e) in entries.iter().enumerate() {
        let seq = prev_seq + 1 + i as i64;
        let details = e.details.to_string();
        let hash = entry_hash(
            seq,
            at.micros(),
            actor_id,
            actor_label,
            &e.action,
            e.object_type,
            &e.object_id,
            e.outcome.as_str(),
            &details,
            &prev,
        );
        out.push(StoredEntry {
            seq,
            at: at.micros(),
            actor_id: actor_id.map(str::to_string),
            actor_label: actor_label.to_string(),
            action: e.action.clone(),
            object_type: e.object_type.to_string(),
            object_id: e.object_id.clone(),
            outcome: e.outcome.as_str().to_string(),
            details,
            prev_hash: prev.clone(),
            hash: hash.clone(),
        });
        prev = hash;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<StoredEntry> {
        let entries: Vec<NewEntry> = (0..n)
            .map(|i| NewEntry::success("case.read", "case", format!("c{i}")))
            .collect();
        chain(
            0,
            GENESIS_HASH,
            Timestamp(1_000),
            Some("p1"),
            "Dr A",
            &entries,
        )
    }

    fn verify(rows: &[StoredEntry], head: (i64, &str)) -> Result<VerifyReport, Break> {
        let mut v = Verifier::default();
        for r in rows {
            v.feed(r)?;
        }
        v.finish(head.0, head.1)
    }

    #[test]
    fn intact_chain_verifies() {
        let rows = sample(5);
        let last = rows.last().map(|r| r.hash.clone()).unwrap_or_default();
        let rep = verify(&rows, (5, &last)).expect("intact");
        assert_eq!(rep.entries, 5);
    }

    #[test]
    fn empty_chain_verifies_against_genesis() {
        assert!(verify(&[], (0, GENESIS_HASH)).is_ok());
    }

    #[test]
    fn detects_edit_delete_truncate_swap() {
        let rows = sample(6);
        let head = rows[5].hash.clone();

        let mut edited = rows.clone();
        edited[2].details = r#"{"x":1}"#.into();
        assert_eq!(
            verify(&edited, (6, &head)),
            Err(Break::HashMismatch { seq: 3 })
        );

        let mut deleted = rows.clone();
        deleted.remove(3);
        assert_eq!(
            verify(&deleted, (6, &head)),
            Err(Break::SequenceGap {
                expected: 4,
                found: 5
            })
        );

        let truncated = &rows[..4];
        assert_eq!(
            verify(truncated, (6, &head)),
            Err(Break::HeadMismatch { last: 4, head: 6 })
        );

        // Swap the contents of two rows but keep the sequence numbers in place.
        let mut swapped = rows.clone();
        let (a, b) = (swapped[1].clone(), swapped[2].clone());
        swapped[1] = StoredEntry { seq: 2, ..b };
        swapped[2] = StoredEntry { seq: 3, ..a };
        assert!(matches!(
            verify(&swapped, (6, &head)),
            Err(Break::PrevHashMismatch { seq: 2 } | Break::HashMismatch { seq: 2 })
        ));
    }

    #[test]
    fn checkpoints_catch_rewrites_and_old_copies() {
        let rows = sample(6);
        let cp = |i: usize| Checkpoint {
            seq: rows[i].seq,
            hash: rows[i].hash.clone(),
            at: None,
        };
        // A consistent forgery from entry 3 on, head included.
        let entries: Vec<NewEntry> = (0..4)
            .map(|i| NewEntry::success("case.read", "case", format!("x{i}")))
            .collect();
        let mut forged = rows[..2].to_vec();
        forged.extend(chain(
            2,
            &rows[1].hash,
            Timestamp(1_000),
            Some("p1"),
            "Dr A",
            &entries,
        ));
        let forged_head = forged[5].hash.clone();
        let run = |rows: &[StoredEntry], cps: &[Checkpoint], head: (i64, &str)| {
            let mut v = Verifier::with_checkpoints(cps);
            for r in rows {
                v.feed(r)?;
            }
            v.finish(head.0, head.1)
        };
        assert!(
            run(&forged, &[], (6, &forged_head)).is_ok(),
            "undetectable without a checkpoint"
        );
        assert_eq!(
            run(&forged, &[cp(4)], (6, &forged_head)),
            Err(Break::CheckpointMismatch { seq: 5 })
        );
        assert!(
            run(&forged, &[cp(1)], (6, &forged_head)).is_ok(),
            "entries before the forgery are intact"
        );
        // An older copy: consistent but shorter than the checkpoint.
        let old = &rows[..3];
        assert_eq!(
            run(old, &[cp(4)], (3, &rows[2].hash)),
            Err(Break::BehindCheckpoint {
                checkpoint: 5,
                last: 3
            })
        );
        assert!(run(&rows, &[cp(2), cp(5)], (6, &rows[5].hash)).is_ok());
    }

    #[test]
    fn encoding_is_unambiguous() {
        let a = entry_hash(
            1,
            1,
            Some("ab"),
            "c",
            "x",
            "t",
            "o",
            "success",
            "{}",
            GENESIS_HASH,
        );
        let b = entry_hash(
            1,
            1,
            Some("a"),
            "bc",
            "x",
            "t",
            "o",
            "success",
            "{}",
            GENESIS_HASH,
        );
        let c = entry_hash(
            1,
            1,
            None,
            "c",
            "x",
            "t",
            "o",
            "success",
            "{}",
            GENESIS_HASH,
        );
        let d = entry_hash(
            1,
            1,
            Some(""),
            "c",
            "x",
            "t",
            "o",
            "success",
            "{}",
            GENESIS_HASH,
        );
        assert_ne!(a, b);
        assert_ne!(c, d);
    }
}
