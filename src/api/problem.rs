//! RFC 9457 problem details: every API error is `application/problem+json` with a status, a title, a detail a
//! person can act on and, for validation errors, the fields at fault.

use crate::response::{Body, full};
use crate::service::ServiceError;
use crate::service::access::Action;
use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    #[serde(serialize_with = "status_code")]
    pub status: StatusCode,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    #[serde(skip)]
    pub allow: Option<&'static str>,
    /// Seconds, for 429 and 503 (Retry-After).
    #[serde(skip)]
    pub retry_after: Option<u32>,
}

fn status_code<S: serde::Serializer>(s: &StatusCode, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_u16(s.as_u16())
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status,
            detail: detail.into(),
            errors: Vec::new(),
            allow: None,
            retry_after: None,
        }
    }

    /// A request that names a field (body member or query parameter) the server cannot accept: 422 for values,
    /// 400 for parameters.
    pub fn invalid(field: &str, message: impl Into<String>) -> Problem {
        let message = message.into();
        let mut p = Problem::new(StatusCode::BAD_REQUEST, format!("{field}: {message}"));
        p.errors.push(FieldProblem { field: field.to_string(), message });
        p
    }

    pub fn unprocessable(field: &str, message: impl Into<String>) -> Problem {
        let mut p = Problem::invalid(field, message);
        p.status = StatusCode::UNPROCESSABLE_ENTITY;
        p.title = "Unprocessable Content".into();
        p
    }

    pub fn method_not_allowed(allow: &'static str) -> Problem {
        let mut p = Problem::new(StatusCode::METHOD_NOT_ALLOWED, format!("this resource allows {allow}"));
        p.allow = Some(allow);
        p
    }

    pub fn into_response(self) -> Response<Body> {
        let bytes = serde_json::to_vec(&self).unwrap_or_else(|_| b"{\"type\":\"about:blank\"}".to_vec());
        let mut r = Response::new(full(bytes));
        *r.status_mut() = self.status;
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(allow) = self.allow {
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if let Some(secs) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

fn action_words(a: Action) -> &'static str {
    match a {
        Action::Read => "read this label",
        Action::EditCard => "edit contacts here (edit level or higher)",
        Action::AddCard => "add contacts here (edit level or higher)",
        Action::RemoveCard => "remove contacts from this label (delete level or higher)",
        Action::WriteProperties => "change this label's details (share level or higher)",
        Action::Share => "manage collaborators (share level or higher)",
        Action::Administer => "do this: only the label's owner can",
        Action::Restore => "restore here (share level or higher)",
    }
}

impl From<ServiceError> for Problem {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound => Problem::new(StatusCode::NOT_FOUND, "no such resource, or not one you can see"),
            ServiceError::Forbidden(a) => {
                Problem::new(StatusCode::FORBIDDEN, format!("your level does not allow you to {}", action_words(a)))
            }
            ServiceError::PreconditionFailed => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "it changed since you read it (If-Match does not match); read it again and retry",
            ),
            ServiceError::UidChanged => Problem::new(
                StatusCode::CONFLICT,
                "a contact's UID cannot change: it names the same contact on every device",
            ),
            ServiceError::UidConflict(_) => {
                Problem::new(StatusCode::CONFLICT, "another contact in this book has the same UID")
            }
            ServiceError::InvalidCard(e) => Problem::unprocessable("vcard", e.to_string()),
            ServiceError::Field(f) => Problem::unprocessable(&f.field, f.message),
            ServiceError::TooLarge(n) => {
                Problem::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the contact would be larger than {n} bytes"))
            }
            ServiceError::Invalid(m) => {
                let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, m);
                p.title = "Unprocessable Content".into();
                p
            }
            ServiceError::Conflict(m) => Problem::new(StatusCode::CONFLICT, m),
            ServiceError::Refused(m) => Problem::new(StatusCode::FORBIDDEN, m),
            ServiceError::Missing(what) => Problem::new(StatusCode::NOT_FOUND, format!("no {what}")),
            ServiceError::TooSoon(secs, m) => {
                let mut p = Problem::new(StatusCode::TOO_MANY_REQUESTS, m);
                p.retry_after = Some(secs.max(1));
                p
            }
            ServiceError::Quota(m) => Problem::new(StatusCode::INSUFFICIENT_STORAGE, m),
            ServiceError::Full(m) => {
                tracing::error!(error = %m, "the database is full");
                Problem::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "the server has no room left to store this; nothing was changed",
                )
            }
            ServiceError::Store(e) if e.is_transient() => {
                tracing::error!(error = %e, "the database cannot answer now");
                let mut p = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "the database is unavailable; try again");
                p.retry_after = crate::response::RETRY_AFTER_UNAVAILABLE.parse().ok();
                p
            }
            ServiceError::Store(e) => {
                tracing::error!(error = %e, "store failure");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "an internal error; it has been logged")
            }
        }
    }
}
