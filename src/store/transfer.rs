//! Moving a label to a new owner, and deleting an account.
//!
//! A label's contacts belong to its owner (cards added to a label become contacts of the label's owner, and only
//! the owner may label one of their own contacts), so a transfer gives the new owner the label's contacts: each
//! one becomes a contact of theirs (the same contact, if they already have one with its UID; otherwise a copy,
//! with its history). The previous owner keeps their own contacts as they were.

use super::events::{Event, commit_publishing};
use super::{Result, Store, StoreError, on_pool};

impl Store {
    /// Makes `new_owner` the owner of a label, giving them its contacts, in one transaction. With
    /// `old_owner_keeps`, the previous owner stays on as a share-level collaborator. Set-based: a few
    /// statements whatever the label's size.
    pub async fn transfer_label(
        &self,
        label_id: &str,
        new_owner: i64,
        new_owner_email: &str,
        old_owner_keeps: bool,
        actor_id: i64,
    ) -> Result<()> {
        let now = self.clock.now();
        on_pool!(self, p => {
            let mut tx = self.write(p, 1).await?;
            let seq = tx.seq();
            let owner: Option<(i64, String)> = sqlx::query_as("SELECT l.owner_id, u.email FROM labels l JOIN users u ON u.id = l.owner_id WHERE l.id = $1")
                .bind(label_id).fetch_optional(&mut *tx).await?;
            let (old_owner, old_email) = owner.ok_or(StoreError::NotFound)?;
            if old_owner == new_owner {
                return Err(StoreError::Conflict("they already own this label".into()));
            }
            // Copies for the contacts the new owner does not have yet (same UID = same contact), under the same
            // name unless that name is taken in their My contacts.
            sqlx::query(
                "INSERT INTO contacts (owner_id, href, uid, vcard, etag, fn, sort_key, emails, tels, org, kind, created_at, updated_at, modseq, actor_id, search) \
                 SELECT $1, CASE WHEN EXISTS (SELECT 1 FROM contacts t WHERE t.owner_id = $1 AND t.href = c.href AND t.deleted_at IS NULL) \
                                 THEN 'transferred-' || c.id || '.vcf' ELSE c.href END, \
                        c.uid, c.vcard, c.etag, c.fn, c.sort_key, c.emails, c.tels, c.org, c.kind, c.created_at, c.updated_at, $3, $4, c.search \
                 FROM contacts c WHERE c.id IN (SELECT m.contact_id FROM memberships m WHERE m.label_id = $5 AND m.removed_at IS NULL) \
                 AND c.owner_id = $2 AND c.deleted_at IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM contacts n WHERE n.owner_id = $1 AND n.uid = c.uid AND n.deleted_at IS NULL)")
                .bind(new_owner).bind(old_owner).bind(seq).bind(actor_id).bind(label_id).execute(&mut *tx).await?;
            // The copies keep their history: the earlier versions, and what happened to them; their arrival is a
            // transfer, not a creation.
            sqlx::query(
                "INSERT INTO contact_versions (contact_id, vcard, etag, replaced_at, replaced_by, modseq) \
                 SELECT n.id, v.vcard, v.etag, v.replaced_at, v.replaced_by, v.modseq FROM contact_versions v \
                 JOIN contacts o ON o.id = v.contact_id \
                 JOIN contacts n ON n.owner_id = $1 AND n.uid = o.uid AND n.deleted_at IS NULL AND n.modseq = $3 \
                 WHERE o.owner_id = $2 AND o.deleted_at IS NULL")
                .bind(new_owner).bind(old_owner).bind(seq).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO activity (label_id, contact_id, action, actor, at, modseq, fn) \
                 SELECT NULL, n.id, a.action, a.actor, a.at, a.modseq, a.fn FROM activity a \
                 JOIN contacts o ON o.id = a.contact_id \
                 JOIN contacts n ON n.owner_id = $1 AND n.uid = o.uid AND n.deleted_at IS NULL AND n.modseq = $3 \
                 WHERE a.label_id IS NULL AND a.modseq < $3 AND o.owner_id = $2 AND o.deleted_at IS NULL")
                .bind(new_owner).bind(old_owner).bind(seq).execute(&mut *tx).await?;
            sqlx::query("UPDATE activity SET action = 'transferred' WHERE modseq = $1 AND label_id IS NULL AND action = 'created'")
                .bind(seq).execute(&mut *tx).await?;
            // Every membership of the label (and its trash) now names the new owner's contact with that UID.
            sqlx::query(
                "UPDATE memberships SET modseq = $3, contact_id = (SELECT n.id FROM contacts o JOIN contacts n ON n.uid = o.uid \
                     WHERE o.id = memberships.contact_id AND n.owner_id = $2 AND n.deleted_at IS NULL) \
                 WHERE label_id = $1 AND contact_id IN (SELECT o.id FROM contacts o JOIN contacts n ON n.uid = o.uid \
                     AND n.owner_id = $2 AND n.deleted_at IS NULL WHERE o.owner_id = $4 AND o.deleted_at IS NULL)")
                .bind(label_id).bind(new_owner).bind(seq).bind(old_owner).execute(&mut *tx).await?;
            sqlx::query("UPDATE labels SET owner_id = $1, modseq = $2 WHERE id = $3").bind(new_owner).bind(seq).bind(label_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE users SET book_modseq = $1 WHERE id = $2").bind(seq).bind(new_owner).execute(&mut *tx).await?;
            // An owner holds no grant; the previous owner keeps share level if asked.
            sqlx::query("DELETE FROM grants WHERE label_id = $1 AND grantee_kind = 'user' AND grantee = $2")
                .bind(label_id).bind(new_owner_email).execute(&mut *tx).await?;
            if old_owner_keeps {
                sqlx::query("INSERT INTO grants (label_id, grantee_kind, grantee, level, status, sync_devices, invited_by, created_at, updated_at, modseq) \
                             VALUES ($1, 'user', $2, 'share', 'accepted', TRUE, $3, $4, $4, $5) \
                             ON CONFLICT (label_id, grantee_kind, grantee) DO UPDATE SET level = 'share', status = 'accepted', hidden_fields = '[]', updated_at = $4, modseq = $5")
                    .bind(label_id).bind(&old_email).bind(new_owner).bind(now).bind(seq).execute(&mut *tx).await?;
            }
            let events = vec![
                Event::Label { label_id: label_id.to_string(), owner_id: new_owner },
                Event::Sharing { label_id: label_id.to_string() },
                Event::Cards { modseq: seq, owners: vec![new_owner], labels: vec![label_id.to_string()] },
            ];
            commit_publishing!(self, tx, events);
            Ok(())
        })
    }

    /// Names of the labels a user owns (an account is deleted only once this is empty).
    pub async fn owned_label_names(&self, user_id: i64) -> Result<Vec<String>> {
        Ok(
            on_pool!(self, p => sqlx::query_scalar::<_, String>("SELECT name FROM labels WHERE owner_id = $1 ORDER BY name")
            .bind(user_id).fetch_all(p).await?),
        )
    }

    /// Deletes an account that owns no label: its contacts (and their history), app passwords, grants to it and
    /// its group memberships. What it did stays in other labels' activity logs, by e-mail.
    pub async fn delete_user(&self, user_id: i64) -> Result<()> {
        on_pool!(self, p => {
            let mut tx = self.write(p, 1).await?;
            let email: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE id = $1").bind(user_id).fetch_optional(&mut *tx).await?;
            let email = email.ok_or(StoreError::NotFound)?;
            let owned = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM labels WHERE owner_id = $1").bind(user_id).fetch_one(&mut *tx).await?;
            if owned > 0 {
                return Err(StoreError::Conflict(format!("{email} owns {owned} label(s): transfer or delete them first")));
            }
            let shared: Vec<String> = sqlx::query_scalar("DELETE FROM grants WHERE grantee_kind = 'user' AND grantee = $1 RETURNING label_id")
                .bind(&email).fetch_all(&mut *tx).await?;
            sqlx::query("UPDATE grants SET invited_by = NULL WHERE invited_by = $1").bind(user_id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM contacts WHERE owner_id = $1").bind(user_id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM dead_props WHERE collection = $1").bind(format!("contacts:{user_id}")).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM users WHERE id = $1").bind(user_id).execute(&mut *tx).await?;
            let mut events: Vec<Event> = shared.into_iter().map(|label_id| Event::Sharing { label_id }).collect();
            events.extend([Event::Account { user_id }, Event::Directory]);
            commit_publishing!(self, tx, events);
            Ok(())
        })
    }
}
