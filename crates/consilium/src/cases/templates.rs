//! An expert's reusable answer texts: saved from the answer form, offered in it next time.
//! Private to their author; never shared, never part of a case until used in an answer.

use crate::audit::{self, NewEntry};
use crate::kernel::{Error, Result, new_id};
use crate::platform::{Ctx, Platform};
use crate::run;

/// The most templates one expert keeps; saving another drops the oldest.
const MAX_TEMPLATES: i64 = 50;
const MAX_BODY: usize = 20_000;

/// One of an expert's answer templates.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AnswerTemplate {
    pub id: String,
    pub title: String,
    pub body: String,
}

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
    /// The caller's templates, newest first.
    pub async fn answer_templates(&self, ctx: &Ctx) -> Result<Vec<AnswerTemplate>> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.read().await?;
        let rows: Vec<AnswerTemplate> = run!(&mut tx, |c| sqlx::query_as(
            "SELECT id, title, body FROM answer_templates WHERE professional_id = $1
             ORDER BY created_at DESC, id DESC LIMIT $2"
        )
        .bind(&me)
        .bind(MAX_TEMPLATES)
        .fetch_all(c)
        .await)?;
        tx.rollback().await?;
        Ok(rows)
    }

    /// Renames one of the caller's templates (someone else's, or unknown: 404, audited).
    pub async fn rename_answer_template(&self, ctx: &Ctx, id: &str, title: &str) -> Result<()> {
        let title = title.trim();
        if title.is_empty() || title.chars().count() > 100 {
            return Err(Error::invalid(
                "title",
                "is required (at most 100 characters)",
            ));
        }
        self.change_answer_template(ctx, id, Some(title)).await
    }

    /// Deletes one of the caller's templates (someone else's, or unknown: 404, audited).
    pub async fn delete_answer_template(&self, ctx: &Ctx, id: &str) -> Result<()> {
        self.change_answer_template(ctx, id, None).await
    }

    async fn change_answer_template(&self, ctx: &Ctx, id: &str, title: Option<&str>) -> Result<()> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let action = if title.is_some() {
            "answer_template.rename"
        } else {
            "answer_template.delete"
        };
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let n = match title {
            Some(t) => run!(&mut tx, |c| sqlx::query(
                "UPDATE answer_templates SET title = $1 WHERE id = $2 AND professional_id = $3"
            )
            .bind(t)
            .bind(id)
            .bind(&me)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?,
            None => run!(&mut tx, |c| sqlx::query(
                "DELETE FROM answer_templates WHERE id = $1 AND professional_id = $2"
            )
            .bind(id)
            .bind(&me)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?,
        };
        if n == 0 {
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied(action, "answer_template", id),
                    Error::NotFound,
                )
                .await;
        }
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success(action, "answer_template", id)],
        )
        .await?;
        tx.commit().await
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
