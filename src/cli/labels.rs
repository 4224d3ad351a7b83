//! `labelbook label`, `share`, `invitation`, `grant` and `trash`.

use super::args::*;
use super::output::*;
use anyhow::{Result, bail};
use labelbook::app::App;

pub async fn label(app: &App, cmd: LabelCmd, json: bool) -> Result<()> {
    match cmd {
        LabelCmd::Add { name, user } => {
            let user = app.user(&user).await?;
            let l = app.service.create_label(&user, None, &name, "").await?;
            if json {
                print_json(serde_json::json!({"id": l.id, "name": l.name}));
            } else {
                println!("{}", l.id);
            }
        }
        LabelCmd::List { user } => {
            let user = app.user(&user).await?;
            let labels = app.store.labels_owned(user.id).await?;
            if json {
                print_json(serde_json::Value::Array(
                    labels.iter().map(|l| serde_json::json!({"id": l.id, "name": l.name})).collect(),
                ));
            } else {
                for l in labels {
                    println!("{}\t{}", l.id, l.name);
                }
            }
        }
        LabelCmd::Rename { id, name, user } => {
            let user = app.user(&user).await?;
            app.service.rename_label(&user, &id, &name).await?;
            if json {
                print_json(serde_json::json!({"id": id, "name": name.trim()}));
            } else {
                println!("renamed {id}");
            }
        }
        LabelCmd::Delete { id, user } => {
            let user = app.user(&user).await?;
            app.service.delete_label(&user, &id).await?;
            if json {
                print_json(serde_json::json!({"id": id, "deleted": true}));
            } else {
                println!("deleted {id}");
            }
        }
        LabelCmd::Transfer { id, owner, to, drop_access } => {
            let owner = app.user(&owner).await?;
            app.service.transfer_label(&owner, &id, &to, !drop_access).await?;
            if json {
                print_json(serde_json::json!({"id": id, "owner": to.trim().to_lowercase()}));
            } else {
                println!("{id} now belongs to {}", to.trim().to_lowercase());
            }
        }
    }
    Ok(())
}

pub fn parse_level(level: &str) -> Result<labelbook::service::access::Level> {
    match labelbook::service::access::Level::parse(level) {
        Some(labelbook::service::access::Level::Owner) | None => bail!("--level is view, edit, delete or share"),
        Some(l) => Ok(l),
    }
}

pub async fn trash(app: &App, cmd: TrashCmd, json: bool) -> Result<()> {
    match cmd {
        TrashCmd::List { user } => {
            let user = app.user(&user).await?;
            let t = app.service.trash(&user).await?;
            if json {
                print_json(serde_json::json!({
                    "contacts": t.contacts.iter().map(|c| serde_json::json!({"id": c.contact_id, "name": c.fn_, "href": c.href, "deleted_at": c.deleted_at})).collect::<Vec<_>>(),
                    "memberships": t.memberships.iter().map(|m| serde_json::json!({"id": m.membership_id, "label": m.label_id, "contact": m.contact_id, "name": m.fn_, "removed_at": m.removed_at})).collect::<Vec<_>>(),
                }));
            } else {
                for c in &t.contacts {
                    println!("contact\t{}\t{}", c.contact_id, c.fn_);
                }
                for m in &t.memberships {
                    println!("membership\t{}\t{}\t{}", m.membership_id, m.label_id, m.fn_);
                }
            }
        }
        TrashCmd::Restore { user, contact, label, membership } => {
            let user = app.user(&user).await?;
            match (contact, label, membership) {
                (Some(id), _, _) => app.service.restore_contact(&user, id).await?,
                (None, Some(label), Some(id)) => app.service.restore_membership(&user, &label, id).await?,
                _ => bail!("restore either --contact ID, or --label ID with --membership ID"),
            }
            if json {
                print_json(serde_json::json!({"restored": true}));
            } else {
                println!("restored");
            }
        }
    }
    Ok(())
}

pub async fn invitation(app: &App, cmd: InvitationCmd, json: bool) -> Result<()> {
    match cmd {
        InvitationCmd::List { user } => {
            let user = app.user(&user).await?;
            print_grants(&app.service.invitations(&user).await?, json);
        }
        InvitationCmd::Accept { id, user } => {
            let user = app.user(&user).await?;
            print_grant(&app.service.respond(&user, id, true).await?, json);
        }
        InvitationCmd::Decline { id, user } => {
            let user = app.user(&user).await?;
            print_grant(&app.service.respond(&user, id, false).await?, json);
        }
    }
    Ok(())
}

pub async fn grant(app: &App, cmd: GrantCmd, json: bool) -> Result<()> {
    match cmd {
        GrantCmd::List { label, actor } => {
            let actor = app.user(&actor).await?;
            print_grants(&app.service.grants(&actor, &label).await?, json);
        }
        GrantCmd::Set { id, actor, level } => {
            let actor = app.user(&actor).await?;
            print_grant(&app.service.set_grant_level(&actor, id, parse_level(&level)?).await?, json);
        }
        GrantCmd::Revoke { id, actor } => {
            let actor = app.user(&actor).await?;
            print_grant(&app.service.revoke(&actor, id).await?, json);
        }
        GrantCmd::Hide { id, actor, fields } => {
            let actor = app.user(&actor).await?;
            let items: Vec<&str> = fields.split(',').map(str::trim).filter(|f| !f.is_empty()).collect();
            print_grant(&app.service.set_hidden_fields(&actor, id, &items).await?, json);
        }
        GrantCmd::Devices { id, user, on, off } => {
            let user = app.user(&user).await?;
            print_grant(&app.service.set_devices(&user, id, on && !off).await?, json);
        }
    }
    Ok(())
}
