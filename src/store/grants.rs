//! Grants: a label shared with a user at a level, with an invitation status and the device toggle.

use super::events::{Event, commit_publishing};
use super::{Label, Result, Store, StoreError, on_pool};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: i64,
    pub label_id: String,
    /// "user", "group" or "domain"
    pub grantee_kind: String,
    /// The user's e-mail, the group's name or the domain.
    pub grantee: String,
    /// view, edit, delete or share (the owner holds no grant)
    pub level: String,
    /// pending, accepted, declined or revoked. Read through `reaching`, a group or domain grant a member left
    /// reads declined.
    pub status: String,
    /// Read through `reaching`, the member's own switch for a group or domain grant.
    pub sync_devices: bool,
    /// JSON array of the vCard properties hidden from this grantee.
    pub hidden_fields: String,
    pub invited_by: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Grant {
    /// A digest of everything a manager sees of the grant: two managers who read the same version saw the same
    /// grant, so a change decided on an older version can be refused (see `GrantChange::version`).
    pub fn version(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [&self.level, &self.status, &self.hidden_fields, &self.grantee_kind, &self.grantee] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update([u8::from(self.sync_devices)]);
        h.update(self.updated_at.to_be_bytes());
        h.update(self.id.to_be_bytes());
        h.finalize()[..12].iter().map(|b| format!("{b:02x}")).collect()
    }
}

macro_rules! grant_cols {
    () => {
        "g.id, g.label_id, g.grantee_kind, g.grantee, g.level, g.status, g.sync_devices, g.hidden_fields, g.invited_by, g.created_at, g.updated_at"
    };
}

type GrantRow = (i64, String, String, String, String, String, bool, String, Option<i64>, i64, i64);

fn grant(r: GrantRow) -> Grant {
    Grant {
        id: r.0,
        label_id: r.1,
        grantee_kind: r.2,
        grantee: r.3,
        level: r.4,
        status: r.5,
        sync_devices: r.6,
        hidden_fields: r.7,
        invited_by: r.8,
        created_at: r.9,
        updated_at: r.10,
    }
}

/// The grants reaching a user: their own, their groups', their domain's; with a member's own answer to a group
/// or domain grant (left it: declined; device toggle) in place of the grant's.
macro_rules! reaching_sql {
    ($($tail:literal),*) => {
        concat!("SELECT l.id, l.owner_id, l.name, l.description, l.created_at, l.modseq, g.id, g.grantee_kind, g.grantee, g.level, ",
            "CASE WHEN m.declined THEN 'declined' ELSE g.status END, COALESCE(m.sync_devices, g.sync_devices), ",
            "g.hidden_fields, g.invited_by, g.created_at, g.updated_at ",
            "FROM grants g JOIN labels l ON l.id = g.label_id ",
            "LEFT JOIN grant_members m ON m.grant_id = g.id AND m.user_id = $1 ",
            "WHERE l.owner_id <> $1 AND ((g.grantee_kind = 'user' AND g.grantee = $2) ",
            "OR (g.grantee_kind = 'domain' AND g.grantee = $3) ",
            "OR (g.grantee_kind = 'group' AND g.grantee IN (SELECT ug.name FROM user_groups ug ",
            "JOIN user_group_members gm ON gm.group_id = ug.id WHERE gm.user_id = $1)))" $(, $tail)*)
    };
}

/// A grant about to be made (see `Store::invite`).
#[derive(Debug, Clone, Copy)]
pub struct NewGrant<'a> {
    pub label_id: &'a str,
    /// user, group or domain
    pub kind: &'a str,
    pub grantee: &'a str,
    pub level: &'a str,
    /// pending, or accepted when nobody needs to accept it
    pub status: &'a str,
    pub sync_devices: bool,
    pub invited_by: i64,
}

/// A change to a grant, applied only if the grant is still in the expected status and, when `version` is given,
/// still the grant the change was decided on (two managers racing on one grant: the second finds it changed).
#[derive(Debug, Clone, Default)]
pub struct GrantChange<'a> {
    pub level: Option<&'a str>,
    pub status: Option<&'a str>,
    pub sync_devices: Option<bool>,
    /// The hidden fields as a JSON array; a change stamps every card of the label, so the grantee's next sync
    /// picks up the new ETags.
    pub hidden_fields: Option<&'a str>,
    /// `Grant::version` of the grant as the actor read it: `StoreError::Stale` when it has changed since.
    pub version: Option<&'a str>,
}

/// The grant's label_id is the label's id (sqlx rows stop at 16 columns).
type LabelGrantRow =
    (String, i64, String, String, i64, i64, i64, String, String, String, String, bool, String, Option<i64>, i64, i64);

fn label_grant(r: LabelGrantRow) -> (Label, Grant) {
    let label = Label { id: r.0, owner_id: r.1, name: r.2, description: r.3, created_at: r.4, modseq: r.5 };
    let label_id = label.id.clone();
    (label, grant((r.6, label_id, r.7, r.8, r.9, r.10, r.11, r.12, r.13, r.14, r.15)))
}

/// The part of an address after the @, which names the user's domain.
pub fn domain_of(email: &str) -> &str {
    email.rsplit_once('@').map_or("", |(_, d)| d)
}

impl Store {
    /// A new grant in `status` (pending for a user to accept; accepted for groups, domains and auto-accepting
    /// domains), or the same grantee invited again after declining or being revoked.
    pub async fn invite(&self, new: &NewGrant<'_>) -> Result<Grant> {
        let NewGrant { label_id, kind, grantee, level, status, sync_devices, invited_by } = *new;
        let now = self.clock.now();
        let id = on_pool!(self, p => {
            let mut tx = self.write(p, 1).await?;
            let seq = tx.seq();
            let existing: Option<(i64, String)> = sqlx::query_as("SELECT id, status FROM grants WHERE label_id = $1 AND grantee_kind = $2 AND grantee = $3")
                .bind(label_id).bind(kind).bind(grantee).fetch_optional(&mut *tx).await?;
            let id = match existing {
                Some((_, old)) if old == "pending" || old == "accepted" => {
                    return Err(StoreError::Conflict(format!("{grantee} already has this label ({old})")));
                }
                Some((id, _)) => {
                    sqlx::query("UPDATE grants SET level = $1, status = $2, sync_devices = $3, invited_by = $4, hidden_fields = '[]', updated_at = $5, modseq = $6 WHERE id = $7")
                        .bind(level).bind(status).bind(sync_devices).bind(invited_by).bind(now).bind(seq).bind(id).execute(&mut *tx).await?;
                    // Members' answers to the grant's earlier life do not carry over.
                    sqlx::query("DELETE FROM grant_members WHERE grant_id = $1").bind(id).execute(&mut *tx).await?;
                    id
                }
                None => sqlx::query_scalar::<_, i64>("INSERT INTO grants (label_id, grantee_kind, grantee, level, status, sync_devices, invited_by, created_at, updated_at, modseq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) RETURNING id")
                    .bind(label_id).bind(kind).bind(grantee).bind(level).bind(status).bind(sync_devices).bind(invited_by).bind(now).bind(seq).fetch_one(&mut *tx).await?,
            };
            let events = vec![Event::Sharing { label_id: label_id.to_string() }];
            commit_publishing!(self, tx, events);
            id
        });
        self.grant(id).await?.ok_or(StoreError::NotFound)
    }

    pub async fn grant(&self, id: i64) -> Result<Option<Grant>> {
        let row = on_pool!(self, p => sqlx::query_as::<_, GrantRow>(concat!("SELECT ", grant_cols!(), " FROM grants g WHERE g.id = $1"))
            .bind(id).fetch_optional(p).await?);
        Ok(row.map(grant))
    }

    pub async fn grants_of_label(&self, label_id: &str) -> Result<Vec<Grant>> {
        let rows = on_pool!(self, p => sqlx::query_as::<_, GrantRow>(concat!("SELECT ", grant_cols!(), " FROM grants g WHERE g.label_id = $1 ORDER BY g.grantee_kind DESC, g.grantee"))
            .bind(label_id).fetch_all(p).await?);
        Ok(rows.into_iter().map(grant).collect())
    }

    /// Everyone an accepted grant on `label_id` reaches now (directly, through a group, through their domain),
    /// but for members who left a group or domain grant, and disabled accounts: each with the level of every
    /// grant that reaches them. One query.
    pub async fn reached_by(&self, label_id: &str) -> Result<Vec<(super::User, String)>> {
        type Row = (i64, String, String, String, bool, bool, String, String, i64, i64, String);
        let sql = concat!(
            "SELECT ",
            super::model::user_cols!(qualified),
            ", g.level FROM grants g JOIN users ON ",
            "(g.grantee_kind = 'user' AND users.email = g.grantee) ",
            "OR (g.grantee_kind = 'domain' AND users.email LIKE '%@' || g.grantee) ",
            "OR (g.grantee_kind = 'group' AND users.id IN (SELECT gm.user_id FROM user_groups ug ",
            "JOIN user_group_members gm ON gm.group_id = ug.id WHERE ug.name = g.grantee)) ",
            "JOIN labels l ON l.id = g.label_id ",
            "LEFT JOIN grant_members m ON m.grant_id = g.id AND m.user_id = users.id ",
            "WHERE g.label_id = $1 AND g.status = 'accepted' AND NOT COALESCE(m.declined, FALSE) ",
            "AND NOT users.disabled AND users.id <> l.owner_id ORDER BY users.email"
        );
        let rows: Vec<Row> = on_pool!(self, p => sqlx::query_as::<_, Row>(sql).bind(label_id).fetch_all(p).await?);
        Ok(rows
            .into_iter()
            .map(|r| {
                let user = super::User::from((r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9));
                (user, r.10)
            })
            .collect())
    }

    /// The user's own direct grants (their invitations and accepted shares).
    pub async fn grants_of_user(&self, email: &str) -> Result<Vec<Grant>> {
        let rows = on_pool!(self, p => sqlx::query_as::<_, GrantRow>(concat!("SELECT ", grant_cols!(), " FROM grants g WHERE g.grantee_kind = 'user' AND g.grantee = $1 ORDER BY g.created_at, g.id"))
            .bind(email).fetch_all(p).await?);
        Ok(rows.into_iter().map(grant).collect())
    }

    /// Every grant that reaches `user` (directly, through a group, through their domain), in any status, on
    /// labels they do not own; on one label when `label_id` is given. One query.
    pub async fn reaching(&self, user_id: i64, email: &str, label_id: Option<&str>) -> Result<Vec<(Label, Grant)>> {
        let domain = domain_of(email);
        let rows = match label_id {
            Some(label) => {
                on_pool!(self, p => sqlx::query_as::<_, LabelGrantRow>(reaching_sql!(" AND g.label_id = $4"))
                .bind(user_id).bind(email).bind(domain).bind(label).fetch_all(p).await?)
            }
            None => {
                on_pool!(self, p => sqlx::query_as::<_, LabelGrantRow>(reaching_sql!(" ORDER BY l.name, l.id, g.id"))
                .bind(user_id).bind(email).bind(domain).fetch_all(p).await?)
            }
        };
        Ok(rows.into_iter().map(label_grant).collect())
    }

    /// A member's own answer to a group or domain grant: leaving it (`declined`) and the device toggle.
    pub async fn answer_as_member(
        &self,
        grant_id: i64,
        user_id: i64,
        sync_devices: Option<bool>,
        declined: Option<bool>,
    ) -> Result<()> {
        on_pool!(self, p => {
            let mut tx = self.write(p, 0).await?;
            let label: Option<String> = sqlx::query_scalar("SELECT label_id FROM grants WHERE id = $1").bind(grant_id).fetch_optional(&mut *tx).await?;
            let label = label.ok_or(StoreError::NotFound)?;
            sqlx::query("INSERT INTO grant_members (grant_id, user_id, sync_devices, declined, updated_at) SELECT id, $2, COALESCE($3, sync_devices), COALESCE($4, FALSE), $5 FROM grants WHERE id = $1 ON CONFLICT (grant_id, user_id) DO UPDATE SET sync_devices = COALESCE($3, grant_members.sync_devices), declined = COALESCE($4, grant_members.declined), updated_at = $5")
                .bind(grant_id).bind(user_id).bind(sync_devices).bind(declined).bind(self.clock.now()).execute(&mut *tx).await?;
            let events = vec![Event::Sharing { label_id: label }];
            commit_publishing!(self, tx, events);
            Ok(())
        })
    }

    /// Applies `change` if the grant is in `expected_status` (any status when `None`) and still at
    /// `change.version`; `NotFound`, `Conflict` or `Stale` otherwise.
    pub async fn change_grant(
        &self,
        id: i64,
        expected_status: Option<&[&str]>,
        change: &GrantChange<'_>,
    ) -> Result<Grant> {
        let now = self.clock.now();
        on_pool!(self, p => {
            let mut tx = self.write(p, 1).await?;
            let seq = tx.seq();
            let row = sqlx::query_as::<_, GrantRow>(concat!("SELECT ", grant_cols!(), " FROM grants g WHERE g.id = $1"))
                .bind(id).fetch_optional(&mut *tx).await?;
            let current = grant(row.ok_or(StoreError::NotFound)?);
            if change.version.is_some_and(|v| v != current.version()) {
                return Err(StoreError::Stale);
            }
            if let Some(allowed) = expected_status
                && !allowed.contains(&current.status.as_str())
            {
                return Err(StoreError::Conflict(format!("the grant is {}", current.status)));
            }
            sqlx::query("UPDATE grants SET level = COALESCE($1, level), status = COALESCE($2, status), sync_devices = COALESCE($3, sync_devices), hidden_fields = COALESCE($4, hidden_fields), updated_at = $5, modseq = $6 WHERE id = $7")
                .bind(change.level).bind(change.status).bind(change.sync_devices).bind(change.hidden_fields).bind(now).bind(seq).bind(id).execute(&mut *tx).await?;
            let label = current.label_id;
            let mut events = vec![Event::Sharing { label_id: label.clone() }];
            if change.hidden_fields.is_some_and(|h| h != current.hidden_fields) {
                sqlx::query("UPDATE memberships SET modseq = $1 WHERE label_id = $2 AND removed_at IS NULL")
                    .bind(seq).bind(&label).execute(&mut *tx).await?;
                sqlx::query("UPDATE labels SET modseq = $1 WHERE id = $2").bind(seq).bind(&label).execute(&mut *tx).await?;
                events.push(Event::Cards { modseq: seq, owners: Vec::new(), labels: vec![label] });
            }
            commit_publishing!(self, tx, events);
            Ok::<(), StoreError>(())
        })?;
        self.grant(id).await?.ok_or(StoreError::NotFound)
    }
}
