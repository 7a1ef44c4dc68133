//! For an organisation's administrators: its audit log (entries by its members, filtered)
//! and its activity (requests per week, answer times, decline reasons). Both are refused
//! (403, audited) to anyone who does not administer the organisation, and both are
//! audited reads themselves.

use crate::audit::{self, NewEntry};
use crate::db::Tx;
use crate::directory::repo as dir;
use crate::kernel::{Error, Result, Timestamp};
use crate::platform::{Ctx, Platform};
use crate::run;
use serde::Serialize;

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Actions starting with this (e.g. `case.`).
    pub action: Option<String>,
    /// `success` or `denied`.
    pub outcome: Option<String>,
    /// Entries at or after / before these instants.
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Older than this sequence number (keyset pagination, newest first).
    pub before_seq: Option<i64>,
    pub limit: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditLine {
    pub seq: i64,
    pub at: i64,
    pub actor_label: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub outcome: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Activity {
    /// (Monday of the week in Europe/Paris `YYYY-MM-DD`, requests submitted that week),
    /// oldest first.
    pub weeks: Vec<(String, i64)>,
    pub submitted: i64,
    pub answered: i64,
    /// Seconds from submission to answer.
    pub median_answer_seconds: Option<i64>,
    pub p90_answer_seconds: Option<i64>,
    /// Answered within 7 days, over submitted cases whose 7 days have passed or that were
    /// answered (percent).
    pub within_7_days_percent: Option<f64>,
    pub decline_reasons: Vec<(String, i64)>,
}

/// A member of an organisation, as its administrators see them.
#[derive(Debug, Clone, Serialize)]
pub struct MemberLine {
    pub professional: crate::directory::model::Professional,
    /// `member` or `admin`.
    pub role: String,
    /// A password was chosen (an invitation was used, or set by an operator).
    pub has_password: bool,
    pub has_second_factor: bool,
    /// An email address is on file (invitations go there).
    pub has_email: bool,
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    professional_id: String,
    role: String,
    has_password: bool,
    has_second_factor: bool,
    has_email: bool,
}

#[derive(sqlx::FromRow)]
struct CaseStat {
    submitted_at: i64,
    answered_at: Option<i64>,
    decline_reason: Option<String>,
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The activity figures of a set of cases (pure; `now` decides which 7-day windows closed).
fn activity_of(rows: &[CaseStat], now: Timestamp, weeks: usize) -> Activity {
    const WEEK: i64 = 7 * 24 * 3600 * 1_000_000;
    let mut answer_times: Vec<i64> = rows
        .iter()
        .filter_map(|r| r.answered_at.map(|a| (a - r.submitted_at) / 1_000_000))
        .collect();
    answer_times.sort_unstable();
    let closed_windows: Vec<&CaseStat> = rows
        .iter()
        .filter(|r| r.answered_at.is_some() || r.submitted_at + WEEK <= now.micros())
        .collect();
    let within = closed_windows
        .iter()
        .filter(|r| r.answered_at.is_some_and(|a| a - r.submitted_at <= WEEK))
        .count();
    let mut reasons: std::collections::BTreeMap<String, i64> = Default::default();
    for r in rows {
        if let Some(d) = &r.decline_reason {
            *reasons.entry(d.clone()).or_default() += 1;
        }
    }
    // Weeks start on Monday, Europe/Paris.
    let monday = crate::billing::model::paris_date(now);
    let monday = monday - time::Duration::days(monday.weekday().number_days_from_monday() as i64);
    let mut out = Vec::with_capacity(weeks);
    for i in (0..weeks as i64).rev() {
        let start = monday - time::Duration::weeks(i);
        let end = start + time::Duration::weeks(1);
        let n = rows
            .iter()
            .filter(|r| {
                let d = crate::billing::model::paris_date(Timestamp(r.submitted_at));
                d >= start && d < end
            })
            .count() as i64;
        out.push((start.to_string(), n));
    }
    Activity {
        weeks: out,
        submitted: rows.len() as i64,
        answered: answer_times.len() as i64,
        median_answer_seconds: percentile(&answer_times, 50.0),
        p90_answer_seconds: percentile(&answer_times, 90.0),
        within_7_days_percent: (!closed_windows.is_empty())
            .then(|| within as f64 * 100.0 / closed_windows.len() as f64),
        decline_reasons: reasons.into_iter().collect(),
    }
}

impl Platform {
    async fn require_org_admin(&self, tx: Tx, ctx: &Ctx, org: &str, action: &str) -> Result<Tx> {
        let mut tx = tx;
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        if dir::admin_of(&mut tx, &me).await?.iter().any(|o| o == org) {
            return Ok(tx);
        }
        let entry = NewEntry::denied(action, "organisation", org);
        self.deny(tx, ctx, entry, Error::NotFound).await
    }

    /// The audit log of an organisation: entries whose actor is one of its members, newest
    /// first, filtered.
    pub async fn organisation_audit(
        &self,
        ctx: &Ctx,
        org: &str,
        f: &AuditFilter,
    ) -> Result<Vec<AuditLine>> {
        let tx = self.db.begin().await?;
        let mut tx = self.require_org_admin(tx, ctx, org, "audit.read").await?;
        let action = f.action.clone().map(|a| format!("{a}%"));
        let rows: Vec<AuditLine> = run!(&mut tx, |c| {
            sqlx::query_as(
            "SELECT a.seq, a.at, a.actor_label, a.action, a.object_type, a.object_id, a.outcome
             FROM audit_log a
             WHERE a.actor_id IN (SELECT professional_id FROM memberships WHERE organisation_id = $1)
               AND ($2 IS NULL OR a.action LIKE $2)
               AND ($3 IS NULL OR a.outcome = $3)
               AND ($4 IS NULL OR a.at >= $4)
               AND ($5 IS NULL OR a.at < $5)
               AND ($6 IS NULL OR a.seq < $6)
             ORDER BY a.seq DESC LIMIT $7"
        )
        .bind(org)
        .bind(action.as_deref())
        .bind(f.outcome.as_deref())
        .bind(f.from.map(|t| t.micros()))
        .bind(f.to.map(|t| t.micros()))
        .bind(f.before_seq)
        .bind(f.limit.clamp(1, 500))
        .fetch_all(c)
        .await
        })?;
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success("audit.read", "organisation", org)],
        )
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The members of an organisation (administrators only), by name.
    pub async fn organisation_members(&self, ctx: &Ctx, org: &str) -> Result<Vec<MemberLine>> {
        let tx = self.db.begin().await?;
        let mut tx = self
            .require_org_admin(tx, ctx, org, "organisation.members")
            .await?;
        let rows: Vec<MemberRow> = run!(&mut tx, |c| {
            sqlx::query_as(
            "SELECT m.professional_id, m.role,
                    EXISTS (SELECT 1 FROM password_credentials p WHERE p.professional_id = m.professional_id) AS has_password,
                    EXISTS (SELECT 1 FROM totp_credentials t WHERE t.professional_id = m.professional_id
                            AND t.confirmed_at IS NOT NULL)
                    OR EXISTS (SELECT 1 FROM webauthn_credentials w
                            WHERE w.professional_id = m.professional_id) AS has_second_factor,
                    EXISTS (SELECT 1 FROM professionals p WHERE p.id = m.professional_id
                            AND p.email IS NOT NULL AND p.email <> '') AS has_email
             FROM memberships m WHERE m.organisation_id = $1"
        )
        .bind(org)
        .fetch_all(c)
        .await
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            if let Some(p) = dir::get_professional(&mut tx, &r.professional_id).await? {
                out.push(MemberLine {
                    professional: p,
                    role: r.role,
                    has_password: r.has_password,
                    has_second_factor: r.has_second_factor,
                    has_email: r.has_email,
                });
            }
        }
        out.sort_by(|a, b| {
            (&a.professional.last_name, &a.professional.first_name)
                .cmp(&(&b.professional.last_name, &b.professional.first_name))
        });
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success(
                "organisation.members",
                "organisation",
                org,
            )],
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Activity of an organisation over the last `weeks` weeks: requests its members sent
    /// and requests its teams received.
    pub async fn organisation_activity(
        &self,
        ctx: &Ctx,
        org: &str,
        weeks: usize,
    ) -> Result<Activity> {
        let tx = self.db.begin().await?;
        let mut tx = self
            .require_org_admin(tx, ctx, org, "activity.read")
            .await?;
        let now = self.now();
        let since = now.plus_seconds(-(weeks as i64) * 7 * 24 * 3600).micros();
        let rows: Vec<CaseStat> = run!(&mut tx, |c| {
            sqlx::query_as(
            "SELECT submitted_at, answered_at, decline_reason FROM cases
             WHERE submitted_at IS NOT NULL AND submitted_at >= $2
               AND (requester_id IN (SELECT professional_id FROM memberships WHERE organisation_id = $1)
                    OR team_id IN (SELECT id FROM teams WHERE organisation_id = $1))"
        )
        .bind(org)
        .bind(since)
        .fetch_all(c)
        .await
        })?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success("activity.read", "organisation", org)],
        )
        .await?;
        tx.commit().await?;
        Ok(activity_of(&rows, now, weeks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&v, 50.0), Some(5));
        assert_eq!(percentile(&v, 90.0), Some(9));
        assert_eq!(percentile(&v, 100.0), Some(10));
        assert_eq!(percentile(&[7], 90.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn activity_counts_weeks_answers_and_the_seven_day_share() {
        let day = 24 * 3600 * 1_000_000i64;
        // Tuesday 2026-11-24 12:00 UTC.
        let now = Timestamp(1_795_521_600_000_000);
        let rows = vec![
            // Answered in 1 day, this week.
            CaseStat {
                submitted_at: now.micros() - day,
                answered_at: Some(now.micros()),
                decline_reason: None,
            },
            // Answered in 9 days, submitted 10 days ago.
            CaseStat {
                submitted_at: now.micros() - 10 * day,
                answered_at: Some(now.micros() - day),
                decline_reason: None,
            },
            // Unanswered, 8 days old: a closed window, not within 7 days.
            CaseStat {
                submitted_at: now.micros() - 8 * day,
                answered_at: None,
                decline_reason: Some("out_of_scope".into()),
            },
            // Unanswered, 2 days old: its window is still open, not counted.
            CaseStat {
                submitted_at: now.micros() - 2 * day,
                answered_at: None,
                decline_reason: None,
            },
        ];
        let a = activity_of(&rows, now, 4);
        assert_eq!(a.submitted, 4);
        assert_eq!(a.answered, 2);
        assert_eq!(a.median_answer_seconds, Some(86_400));
        assert_eq!(a.p90_answer_seconds, Some(9 * 86_400));
        // 3 closed windows (two answered, one 8 days old), 1 within 7 days.
        let share = a.within_7_days_percent.unwrap_or_default();
        assert!((share - 100.0 / 3.0).abs() < 1e-9, "{share}");
        assert_eq!(a.decline_reasons, vec![("out_of_scope".to_string(), 1)]);
        assert_eq!(a.weeks.len(), 4);
        assert_eq!(a.weeks.last().map(|w| w.0.as_str()), Some("2026-11-23"));
        // This week (from Monday 23): submitted yesterday and 2 days ago (Sunday 22 is last week).
        assert_eq!(a.weeks.iter().map(|w| w.1).sum::<i64>(), 4);
        assert_eq!(a.weeks.last().map(|w| w.1), Some(1));
    }
}
