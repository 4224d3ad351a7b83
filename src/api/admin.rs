//! `/admin/…`: accounts, groups and domains, for administrators (as people: password or dashboard session);
//! and `/directory`, the completion of whom to share with, for everyone.

use super::{ApiResult, Items, Problem, Request, json_response, no_content, rfc3339};
use crate::service::admin::Admin;
use crate::store::{Domain, Group, User};
use http::{HeaderValue, Method, StatusCode, header};
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct UserJson<'a> {
    email: &'a str,
    display_name: &'a str,
    is_admin: bool,
    disabled: bool,
    created_at: String,
}

fn user_json(u: &User) -> UserJson<'_> {
    UserJson {
        email: &u.email,
        display_name: &u.display_name,
        is_admin: u.is_admin,
        disabled: u.disabled,
        created_at: rfc3339(u.created_at),
    }
}

#[derive(Serialize)]
struct UserAnswer<'a> {
    user: UserJson<'a>,
    /// A generated password, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

fn admin(req: &Request<'_>) -> Result<Admin, Problem> {
    Ok(Admin::check(req.user, req.credential)?)
}

/// `/admin/users`
pub async fn users(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let admin = admin(req)?;
    match req.parts.method {
        Method::GET => {
            let users = req.app.service.users(&admin).await?;
            json_response(StatusCode::OK, &Items { items: users.iter().map(user_json).collect() })
        }
        Method::POST => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct NewUser {
                email: String,
                #[serde(default)]
                password: Option<String>,
                #[serde(default)]
                is_admin: bool,
            }
            let body: NewUser = req.json()?;
            let (user, password) =
                req.app.accounts.add_user(&admin, &body.email, body.password.as_deref(), body.is_admin).await?;
            let mut r = json_response(StatusCode::CREATED, &UserAnswer { user: user_json(&user), password })?;
            if let Ok(loc) = HeaderValue::from_str(&format!("/api/v1/admin/users/{}", user.email)) {
                r.headers_mut().insert(header::LOCATION, loc);
            }
            Ok(r)
        }
        _ => Err(Problem::method_not_allowed("GET, POST")),
    }
}

/// `/admin/users/{email}`
pub async fn user(req: &Request<'_>, email: &str) -> ApiResult {
    req.params(&[])?;
    let admin = admin(req)?;
    let user = req.app.service.user_named(&admin, email).await?;
    match req.parts.method {
        Method::GET => json_response(StatusCode::OK, &UserAnswer { user: user_json(&user), password: None }),
        Method::PATCH => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Change {
                #[serde(default)]
                disabled: Option<bool>,
                #[serde(default)]
                reset_password: bool,
                #[serde(default)]
                keep_devices: bool,
            }
            let body: Change = req.json()?;
            let password = req
                .app
                .accounts
                .change_user(&admin, &user, body.disabled, body.reset_password, body.keep_devices)
                .await?;
            let user = req.app.service.user_named(&admin, &user.email).await?;
            json_response(StatusCode::OK, &UserAnswer { user: user_json(&user), password })
        }
        Method::DELETE => {
            req.app.service.remove_user(&admin, &user).await?;
            no_content()
        }
        _ => Err(Problem::method_not_allowed("GET, PATCH, DELETE")),
    }
}

#[derive(Serialize)]
struct GroupJson<'a> {
    name: &'a str,
    members: &'a [String],
    created_at: String,
}

fn group_json(g: &Group) -> GroupJson<'_> {
    GroupJson { name: &g.name, members: &g.members, created_at: rfc3339(g.created_at) }
}

/// `/admin/groups`
pub async fn groups(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let admin = admin(req)?;
    match req.parts.method {
        Method::GET => {
            let groups = req.app.service.groups(&admin).await?;
            json_response(StatusCode::OK, &Items { items: groups.iter().map(group_json).collect() })
        }
        Method::POST => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct NewGroup {
                name: String,
            }
            let body: NewGroup = req.json()?;
            let g = req.app.service.add_group(&admin, &body.name).await?;
            json_response(StatusCode::CREATED, &group_json(&g))
        }
        _ => Err(Problem::method_not_allowed("GET, POST")),
    }
}

/// `/admin/groups/{name}`
pub async fn group(req: &Request<'_>, name: &str) -> ApiResult {
    req.params(&[])?;
    let admin = admin(req)?;
    match req.parts.method {
        Method::DELETE => {
            req.app.service.remove_group(&admin, name).await?;
            no_content()
        }
        _ => Err(Problem::method_not_allowed("DELETE")),
    }
}

/// `/admin/groups/{name}/members/{email}`: PUT adds, DELETE removes.
pub async fn member(req: &Request<'_>, name: &str, email: &str) -> ApiResult {
    req.params(&[])?;
    let admin = admin(req)?;
    let add = match req.parts.method {
        Method::PUT => true,
        Method::DELETE => false,
        _ => return Err(Problem::method_not_allowed("PUT, DELETE")),
    };
    req.app.service.set_group_member(&admin, name, email, add).await?;
    no_content()
}

#[derive(Serialize)]
struct DomainJson<'a> {
    name: &'a str,
    primary: bool,
    auto_accept: bool,
    created_at: String,
}

fn domain_json(d: &Domain) -> DomainJson<'_> {
    DomainJson { name: &d.name, primary: d.is_primary, auto_accept: d.auto_accept, created_at: rfc3339(d.created_at) }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainFields {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    primary: Option<bool>,
    #[serde(default)]
    auto_accept: Option<bool>,
}

/// `/admin/domains`
pub async fn domains(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let admin = admin(req)?;
    match req.parts.method {
        Method::GET => {
            let domains = req.app.service.domains(&admin).await?;
            json_response(StatusCode::OK, &Items { items: domains.iter().map(domain_json).collect() })
        }
        Method::POST => {
            let body: DomainFields = req.json()?;
            let name =
                body.name.ok_or_else(|| Problem::unprocessable("name", "the domain's name, e.g. example.com"))?;
            let d = req
                .app
                .service
                .add_domain(&admin, &name, body.primary.unwrap_or(false), body.auto_accept.unwrap_or(false))
                .await?;
            json_response(StatusCode::CREATED, &domain_json(&d))
        }
        _ => Err(Problem::method_not_allowed("GET, POST")),
    }
}

/// `/admin/domains/{name}`
pub async fn domain(req: &Request<'_>, name: &str) -> ApiResult {
    req.params(&[])?;
    let admin = admin(req)?;
    match req.parts.method {
        Method::PATCH => {
            let body: DomainFields = req.json()?;
            if body.name.is_some() {
                return Err(Problem::unprocessable("name", "a domain is not renamed: add the new one"));
            }
            if body.primary == Some(false) {
                return Err(Problem::unprocessable("primary", "make another domain primary instead"));
            }
            let d = req.app.service.set_domain(&admin, name, body.primary == Some(true), body.auto_accept).await?;
            json_response(StatusCode::OK, &domain_json(&d))
        }
        Method::DELETE => {
            req.app.service.remove_domain(&admin, name).await?;
            no_content()
        }
        _ => Err(Problem::method_not_allowed("PATCH, DELETE")),
    }
}

/// `GET /directory?q=`: people and groups to share with.
pub async fn directory(req: &Request<'_>) -> ApiResult {
    req.params(&["q"])?;
    let q = req.param("q").unwrap_or("").trim();
    if !(2..=200).contains(&q.chars().count()) {
        return Err(Problem::invalid("q", "2 to 200 characters of an address, a name or a group"));
    }
    let (users, groups) = req.app.service.directory_search(req.user, q).await?;
    #[derive(Serialize)]
    struct Person<'a> {
        email: &'a str,
        display_name: &'a str,
    }
    #[derive(Serialize)]
    struct Found<'a> {
        users: Vec<Person<'a>>,
        groups: Vec<String>,
    }
    let users = users.iter().map(|u| Person { email: &u.email, display_name: &u.display_name }).collect();
    json_response(StatusCode::OK, &Found { users, groups })
}
