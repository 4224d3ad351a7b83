//! `labelbook domain` and `labelbook group`: the server's directory.

use super::args::*;
use super::output::*;
use anyhow::{Result, bail};
use labelbook::app::App;
use labelbook::service::admin::Admin;

pub async fn domain(app: &App, cmd: DomainCmd, json: bool) -> Result<()> {
    let show = |d: &labelbook::store::Domain| {
        if json {
            print_json(serde_json::json!({"name": d.name, "primary": d.is_primary, "auto_accept": d.auto_accept}));
        } else {
            println!(
                "{}{}{}",
                d.name,
                if d.is_primary { "\tprimary" } else { "" },
                if d.auto_accept { "\tauto-accept" } else { "" }
            );
        }
    };
    match cmd {
        DomainCmd::Add { name, primary, auto_accept } => {
            show(&app.service.add_domain(&Admin::console(), &name, primary, auto_accept).await?)
        }
        DomainCmd::Set { name, primary, auto_accept } => {
            if !primary && auto_accept.is_none() {
                bail!("nothing to set: give --primary and/or --auto-accept on|off");
            }
            show(&app.service.set_domain(&Admin::console(), &name, primary, auto_accept.map(|a| a == "on")).await?)
        }
        DomainCmd::List => {
            let list = app.service.domains(&Admin::console()).await?;
            if json {
                print_json(serde_json::Value::Array(
                    list.iter()
                        .map(|d| serde_json::json!({"name": d.name, "primary": d.is_primary, "auto_accept": d.auto_accept}))
                        .collect(),
                ));
            } else {
                list.iter().for_each(show);
            }
        }
        DomainCmd::Remove { name } => {
            app.service.remove_domain(&Admin::console(), &name).await?;
            if json {
                print_json(serde_json::json!({"name": name, "removed": true}));
            } else {
                println!("removed {name}");
            }
        }
    }
    Ok(())
}

pub async fn group(app: &App, cmd: GroupCmd, json: bool) -> Result<()> {
    let group_json = |g: &labelbook::store::Group| serde_json::json!({"name": g.name, "members": g.members});
    let done = |what: serde_json::Value, text: String| {
        if json {
            print_json(what);
        } else {
            println!("{text}");
        }
    };
    match cmd {
        GroupCmd::Add { name } => {
            let g = app.service.add_group(&Admin::console(), &name).await?;
            done(group_json(&g), format!("created group {}", g.name));
        }
        GroupCmd::List => {
            let list = app.service.groups(&Admin::console()).await?;
            if json {
                print_json(serde_json::Value::Array(list.iter().map(group_json).collect()));
            } else {
                for g in list {
                    println!("{}\t{}", g.name, g.members.join(","));
                }
            }
        }
        GroupCmd::Remove { name } => {
            app.service.remove_group(&Admin::console(), &name).await?;
            done(serde_json::json!({"name": name, "removed": true}), format!("removed group {name}"));
        }
        GroupCmd::MemberAdd { group, email } => {
            app.service.set_group_member(&Admin::console(), &group, &email, true).await?;
            done(
                serde_json::json!({"group": group, "member": email, "added": true}),
                format!("added {email} to {group}"),
            );
        }
        GroupCmd::MemberRemove { group, email } => {
            app.service.set_group_member(&Admin::console(), &group, &email, false).await?;
            done(
                serde_json::json!({"group": group, "member": email, "removed": true}),
                format!("removed {email} from {group}"),
            );
        }
    }
    Ok(())
}
