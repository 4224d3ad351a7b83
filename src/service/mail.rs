//! Invitations by e-mail: with a mail server set up, a new invitation is mailed to the invitee
//! with its own single-use link (a share that is accepted at once gets a notice instead), and a manager can
//! resend it. Messages go through the outbox, so a mail server that is down delays a message rather than losing
//! it or failing the share: the sender retries with growing waits and records what became of each message.

use super::invites::{LINK_DAYS, LINK_PREFIX};
use super::{Result, Service, ServiceError, access::Level};
use crate::mail::message::{Message, address_of};
use crate::mail::{MailError, SmtpConfig, smtp};
use crate::store::{Grant, MailStatus, MailedLink, NewMail, QueuedMail, User};
use std::time::Duration;

/// Tries before a message is given up.
const MAX_ATTEMPTS: i64 = 6;
/// How long a sender holds a claimed message before another may take it.
const LEASE_SECS: i64 = 300;
/// One message's conversation with the mail server, at most.
const SEND_TIMEOUT: Duration = Duration::from_secs(120);
/// Sent and failed messages are kept this long, for the share panel's status.
const KEEP_DAYS: i64 = 30;

fn level_phrase(level: &str) -> &'static str {
    match Level::parse(level) {
        Some(Level::View) => "view access: you can see its contacts",
        Some(Level::Edit) => "edit access: you can see, add and edit its contacts",
        Some(Level::Delete) => "delete access: you can see, add, edit and remove its contacts",
        _ => "share access: you can see, add, edit and remove its contacts and invite others",
    }
}

fn person(u: &User) -> String {
    if u.display_name.trim().is_empty() { u.email.clone() } else { format!("{} ({})", u.display_name.trim(), u.email) }
}

fn date(secs: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64);
    httpdate::fmt_http_date(t)
}

/// What an invitation says: who invites, to what, at which level, and where to answer.
fn invitation_text(inviter: &User, label: &str, grant: &Grant, link: &str, expires: i64, has_account: bool) -> String {
    let account = if has_account {
        String::new()
    } else {
        format!(
            "\nAccepting makes you a Labelbook account for {}: you choose its password on that page.\n",
            grant.grantee
        )
    };
    format!(
        "{who} invited you to the shared contacts label \"{label}\" on Labelbook, with {level}.\n\n\
         Accept or decline:\n{link}\n\n\
         The link works once, until {until}.\n{account}\n\
         Once you accept, the label's contacts are in your Labelbook dashboard and, if you choose, on your phone \
         and computer, and every change any collaborator makes reaches you at once.\n\n\
         If you did not expect this invitation, ignore this message.\n",
        who = person(inviter),
        level = level_phrase(&grant.level),
        until = date(expires),
    )
}

fn notice_text(inviter: &User, label: &str, grant: &Grant, link: &str) -> String {
    format!(
        "{who} shared the contacts label \"{label}\" with you on Labelbook, with {level}.\n\n\
         It is in your dashboard now:\n{link}\n\n\
         Its contacts also appear on the phones and computers you connected to Labelbook; you can turn that off \
         for this label under Invitations and shares.\n",
        who = person(inviter),
        level = level_phrase(&grant.level),
    )
}

/// The settings page's test message.
pub fn test_message(smtp: &SmtpConfig, to: &str, admin: &User, public_url: Option<&str>) -> Message {
    Message {
        from: smtp.from.clone(),
        to: to.to_string(),
        reply_to: None,
        subject: "Labelbook test message".into(),
        text: format!(
            "This message was sent by {who} from the Labelbook server{at} to check its mail settings.\n\n\
             If you can read it, invitations will reach people too.\n",
            who = person(admin),
            at = public_url.map(|u| format!(" at {u}")).unwrap_or_default(),
        ),
    }
}

/// Renders and submits one message now.
pub async fn send_now(smtp: &SmtpConfig, message: &Message) -> (std::result::Result<(), MailError>, Vec<String>) {
    let Some(from) = address_of(&smtp.from).map(str::to_string) else {
        return (Err(MailError { permanent: true, message: "smtp.from is not an address".into() }), Vec::new());
    };
    let Some(to) = address_of(&message.to).map(str::to_string) else {
        return (
            Err(MailError { permanent: true, message: format!("'{}' is not an address", message.to) }),
            Vec::new(),
        );
    };
    let domain = from.rsplit_once('@').map(|(_, d)| d).unwrap_or("localhost");
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let data = message.render(domain, &unique, std::time::SystemTime::now());
    match tokio::time::timeout(SEND_TIMEOUT, smtp::send(smtp, &from, &to, &data)).await {
        Ok(r) => r,
        Err(_) => (
            Err(MailError { permanent: false, message: "the mail server took more than two minutes".into() }),
            Vec::new(),
        ),
    }
}

impl Service {
    /// The address links in messages start with: the configured public address, else the one the request came
    /// to, else this server's listening address.
    fn link_base(&self, public_url: Option<&str>, origin: Option<&str>) -> String {
        public_url.or(origin).unwrap_or(&self.local_url).trim_end_matches('/').to_string()
    }

    /// Mails a new or resent user grant: an invitation with a fresh mailed link when it is pending, a notice
    /// when it was accepted at once. Does nothing without a mail server. Returns the queued message's id.
    pub(super) async fn mail_grant(&self, inviter: &User, grant: &Grant, origin: Option<&str>) -> Result<Option<i64>> {
        let settings = self.settings().await?;
        if settings.smtp.is_none() || grant.grantee_kind != "user" {
            return Ok(None);
        }
        let label = self.store.label(&grant.label_id).await?.ok_or(ServiceError::NotFound)?;
        let base = self.link_base(settings.public_url.as_deref(), origin);
        // A pending invitation carries a fresh mailed link; a share accepted at once gets a notice.
        let (kind, subject, body, link) = match grant.status.as_str() {
            "pending" => {
                let secret = super::sessions::secret(LINK_PREFIX).map_err(ServiceError::Store)?;
                let expires = self.store.clock.now() + LINK_DAYS * 86_400;
                let has_account = self.store.user_by_email(&grant.grantee).await?.is_some();
                let link = format!("{base}/#/invite/{secret}");
                let body = invitation_text(inviter, &label.name, grant, &link, expires, has_account);
                let subject = format!("{} invited you to \"{}\"", display(inviter), label.name);
                ("invitation", subject, body, Some((super::sessions::digest(&secret), expires)))
            }
            "accepted" => {
                let link = format!("{base}/#/book/{}", grant.label_id);
                let body = notice_text(inviter, &label.name, grant, &link);
                ("notice", format!("{} shared \"{}\" with you", display(inviter), label.name), body, None)
            }
            _ => return Ok(None),
        };
        let mail = NewMail {
            kind,
            grant_id: Some(grant.id),
            recipient: &grant.grantee,
            subject: &subject,
            body: &body,
            reply_to: Some(inviter.email.as_str()),
            created_by: Some(inviter.id),
        };
        let mailed = link.as_ref().map(|(digest, expires)| MailedLink { token_hash: digest, expires_at: *expires });
        let id = self.store.queue_mail(&mail, mailed.as_ref()).await?;
        self.mail_wake.notify_one();
        Ok(Some(id))
    }

    /// Mails a pending invitation again, with a new link (the earlier mailed link stops working; a copied link
    /// keeps working). For whoever may manage the grant; at most once per `mail_resend_secs` per grant.
    pub async fn resend_invitation(&self, actor: &User, grant_id: i64, origin: Option<&str>) -> Result<MailStatus> {
        let grant = self.manageable(actor, grant_id, None).await?;
        if grant.grantee_kind != "user" {
            return Err(ServiceError::Conflict("groups and domains get no invitation".into()));
        }
        if grant.status != "pending" {
            return Err(ServiceError::Conflict(format!("the invitation is {}, not pending", grant.status)));
        }
        if self.settings().await?.smtp.is_none() {
            return Err(ServiceError::Conflict(
                "no mail server is set up: copy the invitation link and send it yourself".into(),
            ));
        }
        if let Some(last) = self.store.mail_of_grant(grant_id).await? {
            let wait = last.created_at + self.mail_resend_secs as i64 - self.store.clock.now();
            if wait > 0 {
                return Err(ServiceError::TooSoon(
                    wait as u32,
                    format!("an invitation was mailed to {} moments ago; resend in {wait} s", grant.grantee),
                ));
            }
        }
        self.mail_grant(actor, &grant, origin).await?;
        self.store.mail_of_grant(grant_id).await?.ok_or(ServiceError::NotFound)
    }

    /// The last message about each grant of a label, for someone who may manage its collaborators.
    pub async fn mail_of_label(&self, actor: &User, label_id: &str) -> Result<Vec<MailStatus>> {
        self.managed(actor, label_id).await?;
        Ok(self.store.mail_of_label(label_id).await?)
    }

    /// Sends what is due; returns how many messages it tried.
    pub async fn deliver_due_mail(&self) -> Result<usize> {
        let due = self.store.claim_due_mail(LEASE_SECS, 10).await?;
        let n = due.len();
        for mail in due {
            self.deliver(mail).await?;
        }
        Ok(n)
    }

    async fn deliver(&self, mail: QueuedMail) -> Result<()> {
        // An invitation withdrawn (or answered through a copied link) before its turn is not sent.
        if mail.kind == "invitation"
            && let Some(grant_id) = mail.grant_id
        {
            let status = self.store.grant(grant_id).await?.map(|g| g.status);
            if status.as_deref() != Some("pending") {
                let why = format!("not sent: the invitation is {} now", status.as_deref().unwrap_or("gone"));
                self.store.mail_cancelled(mail.id, &why).await?;
                return Ok(());
            }
        }
        let settings = self.settings().await?;
        let (smtp, body) = match (settings.smtp, mail.body) {
            (Some(s), Some(b)) => (s, b),
            (None, _) => {
                self.store.mail_failed(mail.id, "no mail server is set up any more", None).await?;
                return Ok(());
            }
            (_, None) => {
                self.store.mail_failed(mail.id, "the message was lost", None).await?;
                return Ok(());
            }
        };
        let message = Message {
            from: smtp.from.clone(),
            to: mail.recipient.clone(),
            reply_to: mail.reply_to.clone(),
            subject: mail.subject.clone(),
            text: body,
        };
        let (result, _) = send_now(&smtp, &message).await;
        match result {
            Ok(()) => {
                tracing::info!(kind = %mail.kind, to = %mail.recipient, "mail sent");
                self.store.mail_sent(mail.id).await?;
            }
            Err(e) => {
                let tries = mail.attempts + 1;
                let retry = (!e.permanent && tries < MAX_ATTEMPTS).then(|| {
                    self.store.clock.now()
                        + (self.mail_retry_secs as i64).saturating_mul(4i64.saturating_pow(tries as u32 - 1))
                });
                tracing::warn!(kind = %mail.kind, to = %mail.recipient, tries, retry = retry.is_some(), error = %e, "mail not sent");
                self.store.mail_failed(mail.id, &e.message, retry).await?;
            }
        }
        Ok(())
    }

    /// The sender: delivers due messages, then sleeps until the next is due, a new one is queued, or a minute
    /// passes (another server may have queued one); ends when the server stops.
    pub async fn run_outbox(&self, mut stopping: tokio::sync::watch::Receiver<bool>) {
        let mut last_purge = 0;
        loop {
            if let Err(e) = self.deliver_due_mail().await {
                tracing::warn!(error = %e, "outbox");
            }
            if self.store.clock.now() - last_purge > 3_600 {
                last_purge = self.store.clock.now();
                if let Err(e) = self.store.purge_mail(self.store.clock.now() - KEEP_DAYS * 86_400).await {
                    tracing::warn!(error = %e, "outbox purge");
                }
            }
            let wait = match self.store.next_mail_due().await {
                Ok(Some(at)) => (at - self.store.clock.now()).clamp(1, 60) as u64,
                _ => 60,
            };
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(wait)) => {}
                _ = self.mail_wake.notified() => {}
                _ = stopping.changed() => {}
            }
            if *stopping.borrow() {
                return;
            }
        }
    }
}

fn display(u: &User) -> &str {
    if u.display_name.trim().is_empty() { &u.email } else { u.display_name.trim() }
}
