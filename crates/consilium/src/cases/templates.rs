//! An expert's reusable answer texts: saved from the answer form, offered in it next time.
//! Private to their author; never shared, never part of a case until used in an answer.

use crate::audit::{self, NewEntry};
use crate::kernel::{Error, Result, new_id};
use crate::platform::{Ctx, Platform};
use crate::run;

/// The most templates one expert keeps; saving another drops the oldest.
const MAX_TEMPLATES: i64 = 50;
const MAX_BODY: usize = 20_000;

/// A template's title: its first line, at most 60 characters.
pub fn title_of(body: &str) -> String {
    let first = body.trim().lines().next().unwrap_or_default().trim();
    let mut t: String = first.chars().take(60).collect();
    if first.chars().count() > 60 {
        t.push('…');
    }
    t
}

impl Platform {
    /// The caller's templates as (title, body), newest first.
    pub async fn answer_templates(&self, ctx: &Ctx) -> Result<Vec<(String, String)>> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.read().await?;
        let rows: Vec<(String, String)> = run!(&mut tx, |c| sqlx::query_as(
            "SELECT title, body FROM answer_templates WHERE professional_id = $1
             ORDER BY created_at DESC, id DESC LIMIT $2"
        )
        .bind(&me)
        .bind(MAX_TEMPLATES)
        .fetch_all(c)
        .await)?;
        tx.rollback().await?;
        Ok(rows)
    }

    /// Saves an answer text as a template (the same text twice is kept once).
    pub async fn save_answer_template(&self, ctx: &Ctx, body: &str) -> Result<()> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let body = body.trim();
        if body.is_empty() || body.len() > MAX_BODY {
            return Err(Error::invalid("answer", "1 to 20,000 characters"));
        }
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let exists: Option<(String,)> = run!(&mut tx, |c| sqlx::query_as(
            "SELECT id FROM answer_templates WHERE professional_id = $1 AND body = $2"
        )
        .bind(&me)
        .bind(body)
        .fetch_optional(c)
        .await)?;
        if exists.is_some() {
            tx.rollback().await?;
            return Ok(());
        }
        let id = new_id();
        run!(&mut tx, |c| sqlx::query(
            "INSERT INTO answer_templates (id, professional_id, title, body, created_at)
             VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(&id)
        .bind(&me)
        .bind(title_of(body))
        .bind(body)
        .bind(now.micros())
        .execute(c)
        .await
        .map(|_| ()))?;
        run!(&mut tx, |c| sqlx::query(
            "DELETE FROM answer_templates WHERE professional_id = $1 AND id NOT IN
             (SELECT id FROM answer_templates WHERE professional_id = $1
              ORDER BY created_at DESC, id DESC LIMIT $2)"
        )
        .bind(&me)
        .bind(MAX_TEMPLATES)
        .execute(c)
        .await
        .map(|_| ()))?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success(
                "answer_template.save",
                "professional",
                &me,
            )],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_the_first_line_shortened() {
        assert_eq!(title_of("  Eczéma de contact\nSuite…"), "Eczéma de contact");
        let long = "a".repeat(80);
        assert_eq!(title_of(&long).chars().count(), 61);
        assert_eq!(title_of(""), "");
    }
}
