//! WebDAV-Push over CardDAV (draft-bitfire-webdav-push): POST `push-register` on a book or the home, DELETE of a
//! registration URL, the properties clients discover it by, and `Push-Dont-Notify` on writes.

use super::xml::{Element, PUSH};
use super::{Ctx, DavError, DavResult, Target, collection::open_own_book};
use crate::push::crypto::SubscriptionKeys;
use crate::push::endpoint;
use crate::service::push::{NewRegistration, PushRefusal};
use http::{HeaderValue, Response, StatusCode, header};

/// The push properties of a home (`collection` = `""`) or a book, as complete elements' inner XML; `None` for
/// other names.
pub fn property(ctx: &Ctx<'_>, name: &str, collection: &str) -> Option<String> {
    let push = &ctx.app.push;
    Some(match name {
        "transports" => format!(
            "<P:web-push><P:vapid-public-key type=\"p256ecdsa\">{}</P:vapid-public-key></P:web-push>",
            push.public_key()
        ),
        "topic" => push.topic(ctx.who.user.id, collection),
        // Content updates of a book's cards (depth 1) and of the books in a home; a book's own properties
        // (name, description, who may do what) at depth 0.
        "supported-triggers" if collection.is_empty() => {
            "<P:content-update><d:depth>1</d:depth></P:content-update>".into()
        }
        "supported-triggers" => "<P:content-update><d:depth>1</d:depth></P:content-update>\
             <P:property-update><d:depth>0</d:depth></P:property-update>"
            .into(),
        _ => return None,
    })
}

fn invalid(message: impl Into<String>) -> DavError {
    DavError::cond(StatusCode::FORBIDDEN, PUSH, "invalid-subscription", message)
}

/// What a `push-register` body asks for.
fn parse_register(root: &Element) -> Result<NewRegistration, DavError> {
    let sub = root
        .child(PUSH, "subscription")
        .and_then(|s| s.child(PUSH, "web-push-subscription"))
        .ok_or_else(|| invalid("push-register needs a subscription with a web-push-subscription"))?;
    let resource = sub
        .child(PUSH, "push-resource")
        .map(|e| e.text.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("the web-push-subscription names no push-resource"))?;
    // DAVx5 4.5.19 sends no content-encoding; aes128gcm is the only one RFC 8291 defines.
    if let Some(enc) = sub.child(PUSH, "content-encoding")
        && !enc.text.trim().eq_ignore_ascii_case("aes128gcm")
    {
        return Err(invalid(format!("content-encoding '{}' is not supported; use aes128gcm", enc.text.trim())));
    }
    // The element's name changed between drafts (client-public-key, then subscription-public-key).
    let key = sub
        .child(PUSH, "subscription-public-key")
        .or_else(|| sub.child(PUSH, "client-public-key"))
        .ok_or_else(|| invalid("messages are encrypted (RFC 8291): send subscription-public-key and auth-secret"))?;
    if let Some(t) = key.attr("type")
        && t != "p256dh"
    {
        return Err(invalid(format!("public key type '{t}' is not supported; use p256dh")));
    }
    let auth = sub
        .child(PUSH, "auth-secret")
        .ok_or_else(|| invalid("messages are encrypted (RFC 8291): send subscription-public-key and auth-secret"))?;
    let keys = SubscriptionKeys::from_text(&key.text, &auth.text).map_err(|e| invalid(e.to_string()))?;
    // Without a trigger (DAVx5 4.5.19) a content update is what the client wants; each asked-for depth falls back
    // to the one supported, as the draft says.
    let (content, property) = match root.child(PUSH, "trigger") {
        None => (true, false),
        Some(t) => (t.child(PUSH, "content-update").is_some(), t.child(PUSH, "property-update").is_some()),
    };
    let expires = match root.child(PUSH, "expires") {
        None => None,
        Some(e) => Some(
            httpdate::parse_http_date(e.text.trim())
                .map_err(|_| DavError::bad_request(format!("expires '{}' is not an HTTP date", e.text.trim())))?
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        ),
    };
    Ok(NewRegistration {
        push_resource: resource,
        p256dh: crate::push::crypto::encode(&keys.p256dh),
        auth: crate::push::crypto::encode(&keys.auth),
        content_update: content,
        property_update: property,
        expires,
    })
}

/// POST on a book or the home: registers (or updates) a push subscription. 204 with the registration's URL in
/// Location and its real expiry in Expires; 403 with the draft's precondition for what cannot be registered.
pub async fn register(ctx: &Ctx<'_>, target: &Target, body: &[u8]) -> DavResult {
    let collection = match target {
        Target::Home(email) => {
            ctx.own_home(email)?;
            String::new()
        }
        Target::Book(email, segment) => open_own_book(ctx, email, segment).await?.segment,
        Target::Card(..) => {
            return Err(DavError::method_not_allowed(super::ALLOW, "POST registers push on a collection"));
        }
        _ => {
            return Err(DavError::cond(
                StatusCode::FORBIDDEN,
                PUSH,
                "push-not-available",
                "push is available on address books and the address-book home",
            ));
        }
    };
    let root = super::parse_xml(body)?;
    if !root.is(PUSH, "push-register") {
        return Err(DavError::bad_request(format!(
            "POST on a collection takes a WebDAV-Push push-register body ({PUSH}), not <{}>",
            root.name
        )));
    }
    let mut new = parse_register(&root)?;
    if collection.is_empty() {
        // A home's own properties do not change here: only its books come and go.
        new.property_update = false;
    }
    if !new.content_update && !new.property_update {
        return Err(DavError::cond(
            StatusCode::FORBIDDEN,
            PUSH,
            "no-supported-trigger",
            if collection.is_empty() {
                "the home supports content-update only"
            } else {
                "the trigger names neither content-update nor property-update"
            },
        ));
    }
    let rules = ctx.app.push.settings.rules;
    // A URL the client chose, which the server will POST to: https to a public address only (the sender checks
    // again before each message, and connects to the address it checked).
    let ep = endpoint::parse(&new.push_resource, rules.allow_local).map_err(invalid)?;
    endpoint::resolve(&ep, rules.allow_local).await.map_err(invalid)?;
    new.push_resource = ep.url;
    let (reg, _created) = match ctx.app.service.register_push(ctx.who, &collection, new, &rules).await {
        Ok(r) => r,
        Err(PushRefusal::InvalidSubscription(m)) => return Err(invalid(m)),
        Err(PushRefusal::NotAvailable(m)) => {
            return Err(DavError::cond(StatusCode::FORBIDDEN, PUSH, "push-not-available", m));
        }
        Err(PushRefusal::Service(e)) => return Err(e.into()),
    };
    ctx.app.push.registered(ctx.who.user.id);
    let mut r = Response::new(crate::response::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    let location = format!("{}{}{}", origin(ctx), crate::push::PATH, reg.id);
    let expires =
        httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(reg.expires_at as u64));
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&expires) {
        h.insert(header::EXPIRES, v);
    }
    Ok(r)
}

/// `scheme://host` the client reached us at, for the absolute Location the draft requires.
fn origin(ctx: &Ctx<'_>) -> String {
    let https = ctx.app.config.tls_cert.is_some()
        || ctx.header("x-forwarded-proto").is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    let host = ctx.header("host").map(str::to_string).unwrap_or_else(|| ctx.app.config.listen.clone());
    format!("{}://{}", if https { "https" } else { "http" }, host.trim())
}

/// A request to a registration URL: DELETE ends it (204; 404 when unknown, expired or someone else's).
pub async fn registration(ctx: &Ctx<'_>, method: &str, id: &str) -> DavResult {
    if method != "DELETE" {
        return Err(DavError::method_not_allowed("OPTIONS, DELETE", "a push registration can only be deleted"));
    }
    if id.is_empty() || id.contains('/') {
        return Err(DavError::not_found());
    }
    ctx.app.service.unregister_push(&ctx.who.user, id).await?;
    let mut r = Response::new(crate::response::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

/// A write's `Push-Dont-Notify`: the change it made (`modseq`) is not pushed to the registrations it names.
pub fn dont_notify(ctx: &Ctx<'_>, modseq: i64) {
    if let Some(h) = ctx.header("push-dont-notify") {
        ctx.app.push.quiet(ctx.who.user.id, h, modseq);
    }
}
