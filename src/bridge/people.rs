//! The People API v1 calls the bridge makes, for one Google user at a time, with Google's retry rules: 429 and
//! 5xx are retried with exponential backoff and jitter (honouring Retry-After), a refused token is renewed once.
//! Bodies stay JSON values so fields we do not map pass through untouched.

use super::auth::Tokens;
use super::http::{Http, Response};
use super::person;
use super::{GoogleError, Result};
use http::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Google's batch limits (research §2): creates and updates 200, deletes 500.
pub const BATCH_WRITE: usize = 200;
pub const BATCH_DELETE: usize = 500;

#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// The first wait; each retry doubles it, up to `cap`.
    pub base: Duration,
    pub cap: Duration,
    pub attempts: u32,
}

pub struct People {
    pub http: Http,
    pub tokens: Arc<Tokens>,
    /// `https://people.googleapis.com` or a stand-in.
    pub base: String,
    pub retry: Retry,
}

fn jitter(max_ms: u64) -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    if max_ms == 0 { 0 } else { u64::from_le_bytes(b) % max_ms }
}

/// The error Google put in a refusal: its status word and the first ErrorInfo reason.
fn refusal(r: &Response) -> (String, String, String) {
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let e = &v["error"];
    let status = e["status"].as_str().unwrap_or("").to_string();
    let message = e["message"].as_str().unwrap_or("").to_string();
    let reason =
        e["details"].as_array().and_then(|d| d.iter().find_map(|x| x["reason"].as_str())).unwrap_or("").to_string();
    (status, reason, message)
}

fn encode(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl People {
    /// One call with retries. `user` is the Google account acted for.
    async fn call(&self, user: &str, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let url = format!("{}/v1/{}", self.base.trim_end_matches('/'), path);
        let payload = body.map(|b| b.to_string().into_bytes());
        let mut renewed = false;
        let mut attempt = 0u32;
        loop {
            let outcome = async {
                let token = self.tokens.token(&self.http, user).await?;
                let r = self
                    .http
                    .send(method.clone(), &url, Some(&token), payload.clone().map(|p| ("application/json", p)))
                    .await?;
                classify(r)
            }
            .await;
            match outcome {
                Err(GoogleError::Unauthenticated(_)) if !renewed => {
                    // An access token can die before its time (revoked, rotated): get a new one once.
                    renewed = true;
                    self.tokens.forget(user);
                }
                Err(GoogleError::Transient(why, after)) if attempt + 1 < self.retry.attempts => {
                    let exp = self.retry.base.saturating_mul(1 << attempt.min(16)).min(self.retry.cap);
                    let wait = after.unwrap_or(exp) + Duration::from_millis(jitter(self.retry.base.as_millis() as u64));
                    tracing::debug!(user, %url, attempt, wait_ms = wait.as_millis() as u64, %why, "google: retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(GoogleError::Unauthenticated(why)) => return Err(GoogleError::PermissionLost(why)),
                other => return other,
            }
        }
    }

    pub async fn list_groups(&self, user: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut page = String::new();
        loop {
            let mut path = "contactGroups?pageSize=1000&groupFields=name,clientData,groupType,metadata".to_string();
            if !page.is_empty() {
                path.push_str(&format!("&pageToken={}", encode(&page)));
            }
            let v = self.call(user, Method::GET, &path, None).await?;
            out.extend(v["contactGroups"].as_array().cloned().unwrap_or_default());
            match v["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => page = t.to_string(),
                _ => return Ok(out),
            }
        }
    }

    pub async fn create_group(&self, user: &str, name: &str, label_id: &str) -> Result<Value> {
        let body = json!({
            "contactGroup": { "name": name, "clientData": [{ "key": person::LABEL_KEY, "value": label_id }] },
            "readGroupFields": "name,clientData,groupType,metadata",
        });
        self.call(user, Method::POST, "contactGroups", Some(&body)).await
    }

    pub async fn rename_group(&self, user: &str, resource: &str, name: &str, label_id: &str) -> Result<Value> {
        let current = self.call(user, Method::GET, &format!("{resource}?groupFields=name,clientData"), None).await?;
        let body = json!({
            "contactGroup": {
                "resourceName": resource,
                "etag": current["etag"],
                "name": name,
                "clientData": [{ "key": person::LABEL_KEY, "value": label_id }],
            },
            "updateGroupFields": "name,clientData",
            "readGroupFields": "name,clientData,groupType,metadata",
        });
        self.call(user, Method::PUT, resource, Some(&body)).await
    }

    /// Deletes a group; its contacts stay (the bridge removes the ones only it brought itself).
    pub async fn delete_group(&self, user: &str, resource: &str) -> Result<()> {
        match self.call(user, Method::DELETE, &format!("{resource}?deleteContacts=false"), None).await {
            Ok(_) | Err(GoogleError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Creates up to 200 contacts; the created ones come back in order.
    pub async fn batch_create(&self, user: &str, people: Vec<Value>) -> Result<Vec<Value>> {
        let contacts: Vec<Value> = people.into_iter().map(|p| json!({ "contactPerson": p })).collect();
        let body = json!({ "contacts": contacts, "readMask": person::read_mask() });
        let v = self.call(user, Method::POST, "people:batchCreateContacts", Some(&body)).await?;
        Ok(v["createdPeople"].as_array().map(|a| a.iter().map(|r| r["person"].clone()).collect()).unwrap_or_default())
    }

    /// Updates up to 200 contacts (each with the etag it was last seen with); answers each updated Person.
    pub async fn batch_update(
        &self,
        user: &str,
        people: serde_json::Map<String, Value>,
    ) -> Result<serde_json::Map<String, Value>> {
        let body = json!({ "contacts": people, "updateMask": person::update_mask(), "readMask": person::read_mask() });
        let v = self.call(user, Method::POST, "people:batchUpdateContacts", Some(&body)).await?;
        Ok(v["updateResult"]
            .as_object()
            .map(|m| m.iter().map(|(k, r)| (k.clone(), r["person"].clone())).collect())
            .unwrap_or_default())
    }

    pub async fn update(&self, user: &str, resource: &str, person: &Value) -> Result<Value> {
        let path = format!(
            "{resource}:updateContact?updatePersonFields={}&personFields={}",
            person::update_mask(),
            person::read_mask()
        );
        self.call(user, Method::PATCH, &path, Some(person)).await
    }

    /// Sets a contact's photo (JPEG or PNG bytes); answers the Person after it.
    /// Sets only a contact's groups (the rest of it is left as Google has it).
    pub async fn set_memberships(
        &self,
        user: &str,
        resource: &str,
        etag: &str,
        memberships: Vec<Value>,
    ) -> Result<Value> {
        let path =
            format!("{resource}:updateContact?updatePersonFields=memberships&personFields={}", person::read_mask());
        let body = json!({ "etag": etag, "memberships": memberships });
        self.call(user, Method::PATCH, &path, Some(&body)).await
    }

    pub async fn update_photo(&self, user: &str, resource: &str, bytes: &[u8]) -> Result<Value> {
        use base64::Engine;
        let body = json!({
            "photoBytes": base64::engine::general_purpose::STANDARD.encode(bytes),
            "personFields": person::read_mask(),
        });
        let v = self.call(user, Method::PATCH, &format!("{resource}:updateContactPhoto"), Some(&body)).await?;
        Ok(v["person"].clone())
    }

    /// Removes a contact's photo (Google shows its monogram again); answers the Person after it.
    pub async fn delete_photo(&self, user: &str, resource: &str) -> Result<Value> {
        let path = format!("{resource}:deleteContactPhoto?personFields={}", person::read_mask());
        let v = self.call(user, Method::DELETE, &path, None).await?;
        Ok(v["person"].clone())
    }

    pub async fn get(&self, user: &str, resource: &str) -> Result<Value> {
        self.call(user, Method::GET, &format!("{resource}?personFields={}", person::read_mask()), None).await
    }

    pub async fn batch_delete(&self, user: &str, names: &[String]) -> Result<()> {
        let body = json!({ "resourceNames": names });
        self.call(user, Method::POST, "people:batchDeleteContacts", Some(&body)).await.map(|_| ())
    }

    /// Every connection changed since `token` (all of them without one), and the token to ask with next.
    /// An expired token is `GoogleError::ExpiredSyncToken`.
    pub async fn connections(&self, user: &str, token: Option<&str>) -> Result<(Vec<Value>, String)> {
        let mut out = Vec::new();
        let mut page = String::new();
        loop {
            let mut path = format!(
                "people/me/connections?pageSize=1000&requestSyncToken=true&personFields={}",
                person::read_mask()
            );
            if let Some(t) = token.filter(|t| !t.is_empty()) {
                path.push_str(&format!("&syncToken={}", encode(t)));
            }
            if !page.is_empty() {
                path.push_str(&format!("&pageToken={}", encode(&page)));
            }
            let v = self.call(user, Method::GET, &path, None).await?;
            out.extend(v["connections"].as_array().cloned().unwrap_or_default());
            match v["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => page = t.to_string(),
                _ => return Ok((out, v["nextSyncToken"].as_str().unwrap_or("").to_string())),
            }
        }
    }
}

/// What an answer means for the caller.
fn classify(r: Response) -> Result<Value> {
    let code = r.status.as_u16();
    if r.status.is_success() {
        if r.body.is_empty() {
            return Ok(Value::Null);
        }
        return serde_json::from_slice(&r.body)
            .map_err(|e| GoogleError::Transient(format!("unreadable answer: {e}"), None));
    }
    let (status, reason, message) = refusal(&r);
    let said = format!("{code} {status} {reason}: {message}");
    Err(match code {
        429 | 500 | 502 | 503 | 504 => GoogleError::Transient(said, r.retry_after),
        401 => GoogleError::Unauthenticated(said),
        403 => GoogleError::PermissionLost(said),
        404 => GoogleError::NotFound(said),
        409 => GoogleError::Conflict(said),
        400 if reason == "EXPIRED_SYNC_TOKEN" || message.contains("EXPIRED_SYNC_TOKEN") => {
            GoogleError::ExpiredSyncToken
        }
        400 if status == "FAILED_PRECONDITION" => GoogleError::Stale(said),
        _ => GoogleError::Refused(said),
    })
}
