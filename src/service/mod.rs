//! The use cases, and the one place that checks access: open a book, read it, write cards, create labels.
//! Protocol layers (dav/, api/) call these and never touch the store or compare levels themselves.

pub mod access;
pub mod accounts;
pub mod admin;
pub mod combined;
mod contacts;
mod copy;
pub mod duplicates;
pub use copy::Transfer;
mod labels;
pub mod push;
pub use contacts::{ContactPage, MAX_PAGE, read_for_edit};
pub use labels::{Invitation, LabelSummary, Share};
pub mod cpu;
pub mod directory;
pub mod google;
pub mod history;
pub mod import;
pub mod invites;
pub mod limiter;
pub mod login_log;
pub mod mail;
pub mod passwords;
pub mod sessions;
pub mod settings;
mod sharing;
pub use sharing::{Grantee, Reach};
mod transfer;
pub mod trash;
pub mod watch;

use crate::memo::Memo;
use crate::store::{
    self, Book, Card, Change, Label, NewCard, Precondition, PutOutcome, Store, StoreError, User, WriteError,
};
use crate::vcard::hide::{self, HiddenFields};
use crate::vcard::{self, VCardError};
use access::{Action, Level};
use sha2::{Digest, Sha256};
use std::fmt;

/// The segment of My contacts under a home.
pub const MY_CONTACTS: &str = "contacts";

#[derive(Debug)]
pub enum ServiceError {
    /// Absent, or present but not visible to the caller: both look the same so ids do not leak.
    NotFound,
    Forbidden(Action),
    PreconditionFailed,
    UidConflict(String),
    /// A write would change the UID of the card at its name (RFC 6352 §6.3.2.1).
    UidChanged,
    InvalidCard(VCardError),
    /// A field of an API contact that cannot be written, by its JSON path.
    Field(vcard::json::FieldError),
    TooLarge(usize),
    Invalid(String),
    Conflict(String),
    /// A named thing that does not exist (a group, a domain), by its name: unlike `NotFound`, saying so leaks
    /// nothing, so the message can help.
    Missing(String),
    /// Not allowed for a reason other than a label level (the credential used, an administrator's action).
    Refused(String),
    /// Asked again too soon: try after this many seconds.
    TooSoon(u32, String),
    /// The database had no room for the change, and kept none of it.
    Full(String),
    /// The change would pass a limit on what one resource may hold (RFC 4918 §9.2.1: 507).
    Quota(String),
    Store(StoreError),
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceError::NotFound => write!(f, "not found"),
            ServiceError::Forbidden(a) => write!(f, "your level does not allow {a:?}"),
            ServiceError::PreconditionFailed => write!(f, "precondition failed"),
            ServiceError::UidConflict(h) => write!(f, "another card ({h}) has the same UID"),
            ServiceError::UidChanged => write!(f, "a card's UID cannot change"),
            ServiceError::InvalidCard(e) => write!(f, "{e}"),
            ServiceError::Field(e) => write!(f, "{}: {}", e.field, e.message),
            ServiceError::TooLarge(n) => write!(f, "larger than {n} bytes"),
            ServiceError::Invalid(m) | ServiceError::Conflict(m) | ServiceError::Refused(m) => write!(f, "{m}"),
            ServiceError::Missing(what) => write!(f, "no {what}"),
            ServiceError::TooSoon(_, m) => write!(f, "{m}"),
            ServiceError::Full(m) => write!(f, "no room left to store the change: {m}"),
            ServiceError::Quota(m) => write!(f, "{m}"),
            ServiceError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ServiceError {}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ServiceError::NotFound,
            StoreError::Conflict(m) => ServiceError::Conflict(m),
            StoreError::Stale => ServiceError::Conflict("someone else changed it at the same time; look again".into()),
            StoreError::Full(m) => ServiceError::Full(m),
            e => ServiceError::Store(e),
        }
    }
}

impl From<WriteError> for ServiceError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::PreconditionFailed => ServiceError::PreconditionFailed,
            WriteError::UidConflict { href } => ServiceError::UidConflict(href),
            WriteError::UidChanged => ServiceError::UidChanged,
            WriteError::NotFound => ServiceError::NotFound,
            WriteError::Changed => StoreError::Stale.into(),
            WriteError::Store(e) => e.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, ServiceError>;

/// A name people typed (a label's, an app password's, an API token's): 1 to `max` characters once trimmed
/// (`length_rule` says so when it is not), and no control characters: a NUL would fail on PostgreSQL, and names
/// reach XML, which may carry none of them.
fn check_name(name: &str, max: usize, length_rule: &str) -> Result<()> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > max {
        return Err(field("name", length_rule));
    }
    if name.chars().any(char::is_control) {
        return Err(field("name", "control characters are not allowed here"));
    }
    Ok(())
}

/// A book's name and description, as people typed them: the description may hold line breaks and tabs, and no
/// other control character.
fn check_label_text(name: Option<&str>, description: Option<&str>) -> Result<()> {
    if let Some(n) = name {
        check_name(n, 200, "a label name is 1 to 200 characters")?;
    }
    if description.is_some_and(|d| d.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')) {
        return Err(field("description", "control characters other than line breaks are not allowed here"));
    }
    Ok(())
}

/// Bad input in one named field of a request (the API names it in its problem document).
fn field(name: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::Field(vcard::json::FieldError { field: name.to_string(), message: message.into() })
}

/// A book as one user sees it: what it is, whose it is, and the user's level on it.
#[derive(Debug, Clone)]
pub struct BookView {
    pub book: Book,
    /// The path segment under the user's home: `contacts` or the label id.
    pub segment: String,
    pub owner: User,
    /// The user this view was opened for: who acts when they write.
    pub viewer_id: i64,
    pub level: Level,
    pub displayname: String,
    pub description: String,
    /// What is hidden from this user (see `Reach::hidden`); empty for the owner and most collaborators.
    pub hidden: Vec<HiddenFields>,
    /// Whether this book syncs to the viewer's devices (a collaborator's toggle; always on for the owner).
    pub on_devices: bool,
    /// For the combined book: what each label it shows allows and hides, and its group cards.
    pub combined: Option<std::sync::Arc<combined::Combined>>,
}

impl BookView {
    pub fn allows(&self, action: Action) -> bool {
        access::allows(self.level, action)
    }

    /// Whether reads for this user filter cards (and so read their bytes even for an ETag).
    pub(crate) fn hiding(&self) -> bool {
        !self.hidden.is_empty() || self.combined.as_ref().is_some_and(|c| c.hides_any())
    }

    fn hides(&self, p: &vcard::Property) -> bool {
        !self.hidden.is_empty() && self.hidden.iter().all(|h| h.hides(p))
    }

    /// What is hidden from this user in `card`: the book's hidden fields, or in the combined book those of the
    /// label the card is shown through.
    fn hidden_for<'a>(&'a self, card: &Card) -> &'a [HiddenFields] {
        match (&self.combined, &card.meta.via) {
            (Some(c), Some(label)) => c.hidden_on(label),
            (Some(_), None) => &[],
            (None, _) => &self.hidden,
        }
    }

    /// A card as this user may read it: without what is hidden from them, with the ETag and size of that.
    fn present(&self, mut card: Card, with_data: bool) -> Card {
        let hidden = self.hidden_for(&card);
        if self.hiding() {
            let hides = |p: &vcard::Property| !hidden.is_empty() && hidden.iter().all(|h| h.hides(p));
            if !hidden.is_empty()
                && let Some(filtered) = hide::filter(&card.vcard, &hides)
            {
                card.meta.etag = etag_of(&filtered);
                card.meta.size = filtered.len() as i64;
                card.vcard = filtered;
            }
            if !with_data {
                card.vcard = Vec::new();
            }
        }
        card
    }

    /// Reads for this user need the bytes when something is hidden (the ETag is that of the filtered card).
    fn needs_data(&self, with_data: bool) -> bool {
        with_data || self.hiding()
    }

    /// What this user's write of a new name may do with another of the owner's contacts of the same UID: only
    /// the owner may have a copy into a label adopt one of their other contacts; a collaborator must not pull the
    /// owner's private contacts into a shared label, nor learn their names.
    fn adopting(&self) -> store::Adopt {
        if self.allows(Action::Administer) { store::Adopt::Replace } else { store::Adopt::No }
    }

    fn require(&self, action: Action) -> Result<()> {
        if self.allows(action) { Ok(()) } else { Err(ServiceError::Forbidden(action)) }
    }
}

/// What every sync-token and getctag begins with (RFC 6578 §3.2: a URI).
pub const SYNC_PREFIX: &str = "urn:labelbook:sync:";

pub fn sync_token(n: i64) -> String {
    format!("{SYNC_PREFIX}{n}")
}

/// The token of change `n`, with the combined book's reach when there is one.
pub fn token_text(n: i64, reach: Option<&str>) -> String {
    match reach {
        Some(r) => format!("{SYNC_PREFIX}{n}-{r}"),
        None => sync_token(n),
    }
}

/// Limits that apply to every card written.
#[derive(Debug, Clone, Copy)]
pub struct CardLimits {
    pub max_resource_size: usize,
    pub max_properties: usize,
}

/// Strong entity tag of a representation: a digest of exactly the bytes a client receives.
pub fn etag_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

pub struct Service {
    pub(crate) store: Store,
    pub limits: CardLimits,
    /// The config file's settings; an administrator's changes in the dashboard override them (`settings.rs`).
    pub defaults: settings::Settings,
    /// Where links in mail point when neither a public address is set nor a request says where it came to.
    pub local_url: String,
    /// The first retry's wait for a message the mail server did not take.
    pub mail_retry_secs: u64,
    /// How soon an invitation may be mailed again.
    pub mail_resend_secs: u64,
    /// Wakes the outbox sender when a message is queued.
    pub mail_wake: std::sync::Arc<tokio::sync::Notify>,
    /// Whether everyone may find every account when looking for people to share with.
    pub directory_everyone: bool,
    /// The labels each user can open, as last read (`LabelViews`).
    pub(crate) views: LabelViews,
}

/// The label views of each user (and whether only those synced to devices), kept as read so that opening a book
/// for a poll needs no query (see memo.rs). Any change to labels, sharing, the directory or an account forgets
/// them all: those are rare next to polls, and a revoked share must hold at the next request.
#[derive(Clone)]
pub(crate) struct LabelViews(std::sync::Arc<Memo<ViewsKey, std::sync::Arc<Vec<BookView>>>>);

/// A user's id, and whether only the labels synced to their devices.
type ViewsKey = (i64, bool);

impl LabelViews {
    /// How long views are trusted without an event, and how many users' are kept.
    const TRUSTED_FOR: std::time::Duration = std::time::Duration::from_secs(300);
    const MAX_USERS: usize = 20_000;

    /// Views forgotten as `store`'s change bus says.
    pub(crate) fn observing(store: &Store) -> LabelViews {
        let views = LabelViews(std::sync::Arc::new(Memo::new(Self::TRUSTED_FOR, Self::MAX_USERS)));
        let memo = views.0.clone();
        store.observe(move |event| match event {
            store::events::Event::Cards { .. } | store::events::Event::Google { .. } => {}
            _ => memo.forget(|_| true),
        });
        views
    }
}

impl Service {
    /// Seconds since the epoch by the server's clock (`Store::clock`).
    pub fn now(&self) -> i64 {
        self.store.clock.now()
    }

    /// My contacts' view, named as `user` was read at login; `state` reads the current name for the properties
    /// that show it.
    pub(super) fn my_contacts(user: &User) -> BookView {
        BookView {
            book: Book::MyContacts { owner_id: user.id },
            segment: MY_CONTACTS.to_string(),
            owner: user.clone(),
            viewer_id: user.id,
            level: Level::Owner,
            displayname: user.book_name.clone(),
            description: user.book_description.clone(),
            hidden: Vec::new(),
            on_devices: true,
            combined: None,
        }
    }

    fn label_view(viewer: &User, owner: &User, label: Label, reach: Reach) -> BookView {
        BookView {
            book: Book::Label { label_id: label.id.clone() },
            segment: label.id.clone(),
            owner: owner.clone(),
            viewer_id: viewer.id,
            level: reach.level,
            displayname: label.name,
            description: label.description,
            hidden: reach.hidden,
            on_devices: reach.on_devices,
            combined: None,
        }
    }

    /// Everything `user` syncs: My contacts, each label they own, then each label shared with them and accepted
    /// with "sync to my devices" on, by name.
    pub async fn home_books(&self, user: &User) -> Result<Vec<BookView>> {
        let mut books = vec![Self::my_contacts(user)];
        books.extend(self.label_views(user, true).await?);
        Ok(books)
    }

    /// The labels `user` can open: each they own, then each shared with them and accepted (only those with
    /// "sync to my devices" on when `for_devices`), by name.
    pub(super) async fn label_views(&self, user: &User, for_devices: bool) -> Result<Vec<BookView>> {
        self.store.hear_outside_writes();
        let (key, now) = ((user.id, for_devices), std::time::Instant::now());
        if let Some(views) = self.views.0.get(&key, now) {
            return Ok(views.as_ref().clone());
        }
        let generation = self.views.0.generation();
        let views = self.read_label_views(user, for_devices).await?;
        self.views.0.remember(generation, [(key, std::sync::Arc::new(views.clone()))], now);
        Ok(views)
    }

    async fn read_label_views(&self, user: &User, for_devices: bool) -> Result<Vec<BookView>> {
        let mut views = Vec::new();
        for label in self.store.labels_owned(user.id).await? {
            views.push(Self::label_view(user, user, label, Reach::owner()));
        }
        let mut owners: std::collections::HashMap<i64, User> = std::collections::HashMap::new();
        for (label, reach) in self.shared_with(user).await? {
            if for_devices && !reach.on_devices {
                continue;
            }
            if !owners.contains_key(&label.owner_id) {
                let Some(owner) = self.store.user_by_id(label.owner_id).await? else { continue };
                owners.insert(owner.id, owner);
            }
            if let Some(owner) = owners.get(&label.owner_id) {
                views.push(Self::label_view(user, owner, label, reach));
            }
        }
        Ok(views)
    }

    /// The book at `segment` of `user`'s CardDAV home, if it is there: a shared label only while its device
    /// toggle is on. Absent and invisible look the same.
    pub async fn open_book(&self, user: &User, segment: &str) -> Result<BookView> {
        self.open(user, segment, true).await
    }

    /// The same, whatever the device toggle says (managing collaborators, the dashboard).
    pub async fn open_book_anywhere(&self, user: &User, segment: &str) -> Result<BookView> {
        self.open(user, segment, false).await
    }

    async fn open(&self, user: &User, segment: &str, for_devices: bool) -> Result<BookView> {
        if segment == MY_CONTACTS {
            return Ok(Self::my_contacts(user));
        }
        if uuid::Uuid::parse_str(segment).is_err() {
            return Err(ServiceError::NotFound);
        }
        // Among the labels the user can open (kept for polls), which hold the same rule: their own, and those
        // shared with them and accepted (with the device toggle on, for devices).
        let views = self.label_views(user, for_devices).await?;
        views.into_iter().find(|v| v.segment == segment).ok_or(ServiceError::NotFound)
    }

    /// The book's sync-token, and its current name and description.
    pub async fn state(&self, view: &BookView) -> Result<store::BookState> {
        view.require(Action::Read)?;
        Ok(self.store.book_state(&view.book).await?)
    }

    pub async fn list_cards_page(
        &self,
        view: &BookView,
        with_data: bool,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Card)>> {
        view.require(Action::Read)?;
        if view.combined.is_some() {
            return self.combined_page(view, with_data, after, limit).await;
        }
        let page = self.store.list_cards_page(&view.book, view.needs_data(with_data), after, limit).await?;
        Ok(page.into_iter().map(|(k, c)| (k, view.present(c, with_data))).collect())
    }

    /// The stored size of each named card that exists (an upper bound of what this user reads of it), read
    /// without the cards themselves: to read many large cards in groups of bounded size.
    pub async fn card_sizes(
        &self,
        view: &BookView,
        hrefs: &[String],
    ) -> Result<std::collections::HashMap<String, i64>> {
        view.require(Action::Read)?;
        let cards = self.store.get_cards(&view.book, hrefs, false).await?;
        Ok(cards.into_iter().map(|c| (c.meta.href, c.meta.size)).collect())
    }

    pub async fn get_cards(&self, view: &BookView, hrefs: &[String], with_data: bool) -> Result<Vec<Card>> {
        view.require(Action::Read)?;
        let cards = self.store.get_cards(&view.book, hrefs, view.needs_data(with_data)).await?;
        let mut cards: Vec<Card> = cards.into_iter().map(|c| view.present(c, with_data)).collect();
        if view.combined.is_some() {
            cards.extend(self.requested_groups(view, hrefs, with_data).await?);
        }
        Ok(cards)
    }

    pub async fn get_card(&self, view: &BookView, href: &str, with_data: bool) -> Result<Card> {
        view.require(Action::Read)?;
        if view.combined.is_some() {
            let found = self.get_cards(view, &[href.to_string()], with_data).await?;
            return found.into_iter().find(|c| c.meta.href == href).ok_or(ServiceError::NotFound);
        }
        let card = self.store.get_card(&view.book, href, view.needs_data(with_data)).await?;
        Ok(view.present(card.ok_or(ServiceError::NotFound)?, with_data))
    }

    pub async fn changes_since(
        &self,
        view: &BookView,
        since: i64,
        limit: Option<usize>,
        with_data: bool,
    ) -> Result<(Vec<Change>, bool)> {
        view.require(Action::Read)?;
        let (changes, more) = self.store.changes_since(&view.book, since, limit, view.needs_data(with_data)).await?;
        let mut changes: Vec<Change> = changes
            .into_iter()
            .map(|c| match c {
                Change::Present(card) => Change::Present(view.present(card, with_data)),
                removed => removed,
            })
            .collect();
        if view.combined.is_some() {
            let bound = if more { changes.last().map(Change::modseq).unwrap_or(since) } else { i64::MAX };
            changes.extend(self.changed_groups(view, since, bound, with_data).await?.into_iter().map(Change::Present));
        }
        Ok((changes, more))
    }

    pub async fn book_size(&self, view: &BookView) -> Result<i64> {
        view.require(Action::Read)?;
        Ok(self.store.book_size(&view.book).await?)
    }

    /// A card's indexed fields once it is valid; a large card is parsed on the CPU pool.
    async fn validated(&self, body: &[u8]) -> Result<vcard::Indexed> {
        /// Cards up to this size parse in well under a millisecond, cheaper than a trip to another thread.
        const INLINE: usize = 64 * 1024;
        let max = self.limits.max_properties;
        let checked = if body.len() <= INLINE {
            vcard::validate(body, max)
        } else {
            let owned = body.to_vec();
            cpu::run(move || vcard::validate(&owned, max)).await?
        };
        checked.map(|(_, ix)| ix).map_err(ServiceError::InvalidCard)
    }

    /// Validates and stores a card under the precondition the client sent. For a user from whom fields are
    /// hidden, the precondition is about the card as they read it, and the hidden lines of the stored card are
    /// kept; the ETag answered is then that of what they read back.
    pub async fn put_card(&self, view: &BookView, href: &str, body: &[u8], pre: &Precondition) -> Result<PutOutcome> {
        validate_href(href)?;
        if view.combined.is_some() {
            return Box::pin(self.combined_put(view, href, body, pre)).await;
        }
        if body.len() > self.limits.max_resource_size {
            return Err(ServiceError::TooLarge(self.limits.max_resource_size));
        }
        let added;
        let (body, indexed) = match self.validated(body).await {
            Ok(ix) => (body, ix),
            // RFC 6352 §6.3.2.3: most real exports carry no UID; the server stores the card with one, and the
            // client, told no ETag, reads it back.
            Err(ServiceError::InvalidCard(vcard::VCardError::MissingUid)) => {
                added = vcard::with_uid(body, &self.uid_for(view, href).await?);
                if added.len() > self.limits.max_resource_size {
                    return Err(ServiceError::TooLarge(self.limits.max_resource_size));
                }
                let ix = self.validated(&added).await?;
                (&added[..], ix)
            }
            Err(e) => return Err(e),
        };
        let current = if view.hiding() { self.store.get_card(&view.book, href, true).await? } else { None };
        // Creating needs add rights and replacing needs edit rights; only a level holding just one of them pays
        // for the lookup that tells which this is.
        if !(view.allows(Action::EditCard) && view.allows(Action::AddCard)) {
            let exists = match &current {
                Some(_) => true,
                None => self.store.get_card(&view.book, href, false).await?.is_some(),
            };
            view.require(if exists { Action::EditCard } else { Action::AddCard })?;
        }
        // A collaborator's UID conflict must not name the owner's other contact (see `BookView::adopting`).
        let owner = view.allows(Action::Administer);
        let result = if view.hiding() {
            let seen = current.clone().map(|c| view.present(c, false).meta.etag);
            if !pre.holds(seen.as_deref()) {
                return Err(ServiceError::PreconditionFailed);
            }
            let merged = match &current {
                Some(c) => hide::merge(body, &c.vcard, &|p| view.hides(p)).map_err(ServiceError::InvalidCard)?,
                None => body.to_vec(),
            };
            if merged.len() > self.limits.max_resource_size {
                return Err(ServiceError::TooLarge(self.limits.max_resource_size));
            }
            let merged_index = self.validated(&merged).await?;
            // The stored card must still be the one merged with: a concurrent write makes this a 412.
            let stored_pre = match &current {
                Some(c) => Precondition { if_match: Some(vec![c.meta.etag.clone()]), if_none_match: None },
                None => Precondition { if_match: None, if_none_match: Some(vec!["*".into()]) },
            };
            let new = NewCard {
                vcard: &merged,
                etag: etag_of(&merged),
                indexed: &merged_index,
                adopt_existing: view.adopting(),
                actor_id: view.viewer_id,
            };
            self.store.put_card(&view.book, view.owner.id, href, &new, &stored_pre).await.map(|mut o| {
                let read_back = hide::filter(&merged, &|p| view.hides(p)).unwrap_or(merged);
                o.etag = etag_of(&read_back);
                o
            })
        } else {
            let new = NewCard {
                vcard: body,
                etag: etag_of(body),
                indexed: &indexed,
                adopt_existing: view.adopting(),
                actor_id: view.viewer_id,
            };
            self.store.put_card(&view.book, view.owner.id, href, &new, pre).await
        };
        match result {
            Err(WriteError::UidConflict { .. }) if !owner => Err(ServiceError::UidConflict(String::new())),
            r => Ok(r?),
        }
    }

    /// Many cards into one book as group commits (imports): each validated and answered on its own.
    /// The UID for a card sent without one: that of the card already at this name (a UID never changes), or one
    /// derived from the book and name, so that sending the same card again names the same contact.
    async fn uid_for(&self, view: &BookView, href: &str) -> Result<String> {
        if let Some(c) = self.store.get_card(&view.book, href, true).await?
            && let Ok(card) = vcard::parse(&c.vcard)
        {
            let uid = card.indexed().uid;
            if !uid.trim().is_empty() {
                return Ok(uid);
            }
        }
        let digest = sha2::Sha256::digest(format!("labelbook-uid:{}:{}:{href}", view.owner.id, view.segment));
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Ok(format!("urn:uuid:{}", uuid::Builder::from_random_bytes(bytes).into_uuid()))
    }

    pub async fn put_cards(
        &self,
        view: &BookView,
        cards: &[(String, Vec<u8>)],
        pre: &Precondition,
    ) -> Result<Vec<Result<PutOutcome>>> {
        view.require(Action::AddCard)?;
        view.require(Action::EditCard)?;
        if view.combined.is_some() {
            return Err(ServiceError::Invalid("import into My contacts or a label".into()));
        }
        if view.hiding() {
            // Each card must be merged with what is hidden from this user: one by one.
            let mut answers = Vec::with_capacity(cards.len());
            for (href, body) in cards {
                answers.push(self.put_card(view, href, body, pre).await);
            }
            return Ok(answers);
        }
        self.write_batch(view, cards, pre, view.adopting()).await
    }

    /// `put_cards` without the hidden-field merge, which callers either do not need (nothing is hidden from
    /// the user) or must not have (the bytes are a stored card's own). `adopt` says what a card whose UID is
    /// another live contact of the book's owner does.
    pub(super) async fn write_batch(
        &self,
        view: &BookView,
        cards: &[(String, Vec<u8>)],
        pre: &Precondition,
        adopt: store::Adopt,
    ) -> Result<Vec<Result<PutOutcome>>> {
        let mut answers: Vec<Option<Result<PutOutcome>>> = Vec::with_capacity(cards.len());
        let mut parsed = Vec::with_capacity(cards.len());
        let owned: Vec<(String, Vec<u8>)> = cards.to_vec();
        let limits = self.limits;
        let checks = cpu::run(move || {
            owned
                .iter()
                .map(|(href, body)| {
                    validate_href(href).and_then(|_| {
                        if body.len() > limits.max_resource_size {
                            return Err(ServiceError::TooLarge(limits.max_resource_size));
                        }
                        vcard::validate(body, limits.max_properties)
                            .map(|(_, ix)| ix)
                            .map_err(ServiceError::InvalidCard)
                    })
                })
                .collect::<Vec<_>>()
        })
        .await?;
        for ((href, body), checked) in cards.iter().zip(checks) {
            match checked {
                Ok(ix) => {
                    answers.push(None);
                    parsed.push((answers.len() - 1, href, body, ix));
                }
                Err(e) => answers.push(Some(Err(e))),
            }
        }
        let news: Vec<NewCard<'_>> = parsed
            .iter()
            .map(|(_, _, body, ix)| NewCard {
                vcard: body,
                etag: etag_of(body),
                indexed: ix,
                adopt_existing: adopt,
                actor_id: view.viewer_id,
            })
            .collect();
        let writes: Vec<store::CardWrite<'_>> = parsed
            .iter()
            .zip(&news)
            .map(|((_, href, _, _), new)| store::CardWrite::Put {
                book: &view.book,
                owner_id: view.owner.id,
                href: href.as_str(),
                new,
                pre,
            })
            .collect();
        let written = self.store.write_cards(&writes).await;
        for ((slot, _, _, _), w) in parsed.iter().zip(written) {
            answers[*slot] = Some(match w {
                Ok(store::CardWritten::Put(o)) => Ok(o),
                Ok(store::CardWritten::Deleted) => Err(ServiceError::Invalid("a put was answered as a delete".into())),
                Err(e) => Err(e.into()),
            });
        }
        Ok(answers.into_iter().map(|a| a.unwrap_or(Err(ServiceError::NotFound))).collect())
    }

    /// Deletes the card `href` from the book (see `Store::delete_card`); answers the change sequence value taken.
    pub async fn delete_card(&self, view: &BookView, href: &str, pre: &Precondition) -> Result<i64> {
        view.require(Action::RemoveCard)?;
        if view.combined.is_some() {
            return Box::pin(self.combined_delete(view, href, pre)).await;
        }
        if view.hiding() && (pre.if_match.is_some() || pre.if_none_match.is_some()) {
            // If-Match names the ETag this user reads; the delete then needs the stored card unchanged.
            let current = self.store.get_card(&view.book, href, true).await?.ok_or(ServiceError::NotFound)?;
            let stored = current.meta.etag.clone();
            if !pre.holds(Some(&view.present(current, false).meta.etag)) {
                return Err(ServiceError::PreconditionFailed);
            }
            let stored_pre = Precondition { if_match: Some(vec![stored]), if_none_match: None };
            return Ok(self.store.delete_card(&view.book, href, &stored_pre, view.viewer_id).await?);
        }
        Ok(self.store.delete_card(&view.book, href, pre, view.viewer_id).await?)
    }

    /// The account at `email`, for sharing and group membership: a malformed or unknown address is bad input.
    async fn existing_user(&self, email: &str) -> Result<User> {
        let email = accounts::normalize_email(email)
            .ok_or_else(|| ServiceError::Invalid(format!("'{email}' is not an e-mail address")))?;
        self.store
            .user_by_email(&email)
            .await?
            .ok_or_else(|| ServiceError::Invalid(format!("no user {email} on this server")))
    }

    /// Creates a label owned by `user`. `id`, when a client chooses it (MKCOL), must be a UUID: label URLs stay
    /// stable and unguessable.
    pub async fn create_label(&self, user: &User, id: Option<&str>, name: &str, description: &str) -> Result<Label> {
        let name = name.trim();
        check_label_text(Some(name), Some(description))?;
        let id = match id {
            Some(id) => Some(
                uuid::Uuid::parse_str(id)
                    .map_err(|_| {
                        ServiceError::Invalid(
                            "new address books are named by a UUID (as DAVx5 and Apple clients do)".into(),
                        )
                    })?
                    .hyphenated()
                    .to_string(),
            ),
            None => None,
        };
        self.store.create_label(user.id, id.as_deref(), name, description).await.map_err(|e| match e {
            // Only a client reusing an id it was given can meet this; the database's wording helps nobody.
            StoreError::Conflict(_) => {
                ServiceError::Conflict("this address book id is taken; create it under a new UUID".into())
            }
            e => e.into(),
        })
    }

    /// DELETE of a book by `user`: the owner deletes a label (its contacts stay in My contacts), a collaborator
    /// leaves it; My contacts itself cannot be deleted.
    pub async fn delete_book(&self, user: &User, view: &BookView) -> Result<()> {
        match &view.book {
            Book::MyContacts { .. } | Book::Combined { .. } => Err(ServiceError::Forbidden(Action::Administer)),
            Book::Label { label_id } if view.allows(Action::Administer) => {
                Ok(self.store.delete_label(label_id).await?)
            }
            // A collaborator's DELETE of a shared label means "leave this share", never deleting it.
            Book::Label { label_id } => self.leave(user, label_id).await,
        }
    }

    pub async fn rename_label(&self, user: &User, label_id: &str, name: &str) -> Result<()> {
        let view = self.open_book_anywhere(user, label_id).await?;
        self.set_book_props(&view, Some(name), None, &[]).await
    }

    pub async fn delete_label(&self, user: &User, label_id: &str) -> Result<()> {
        let view = self.open_book_anywhere(user, label_id).await?;
        self.delete_book(user, &view).await
    }

    /// PROPPATCH: displayname, description and dead properties, all or nothing (RFC 4918 §9.2).
    pub async fn set_book_props(
        &self,
        view: &BookView,
        name: Option<&str>,
        description: Option<&str>,
        dead: &[(String, String, Option<String>)],
    ) -> Result<()> {
        view.require(Action::WriteProperties)?;
        check_label_text(name, description)?;
        if !dead.is_empty() {
            let mut after: std::collections::HashMap<(String, String), usize> = self
                .store
                .dead_props(&view.book.key())
                .await?
                .into_iter()
                .map(|p| ((p.ns, p.name), p.xml.len()))
                .collect();
            for (ns, name, xml) in dead {
                match xml {
                    Some(xml) => after.insert((ns.clone(), name.clone()), xml.len()),
                    None => after.remove(&(ns.clone(), name.clone())),
                };
            }
            check_dead_props(after.values().copied())?;
        }
        if name.is_some() || description.is_some() {
            match &view.book {
                Book::MyContacts { owner_id } => self.store.update_book(*owner_id, name, description).await?,
                Book::Combined { .. } => return Err(ServiceError::Forbidden(Action::WriteProperties)),
                Book::Label { label_id } => {
                    if name.is_some() {
                        view.require(Action::Administer)?;
                    }
                    self.store.update_label(label_id, name, description).await?
                }
            }
        }
        if !dead.is_empty() {
            self.store.patch_dead_props(&view.book.key(), dead).await?;
        }
        Ok(())
    }

    pub async fn dead_props(&self, view: &BookView) -> Result<Vec<store::DeadProp>> {
        view.require(Action::Read)?;
        Ok(self.store.dead_props(&view.book.key()).await?)
    }
}

/// Most dead properties one collection keeps, the largest one, and all of them together: a client's own data
/// rides along (clients keep a colour or an order here), but a collection is not a file store.
pub const MAX_DEAD_PROPS: usize = 64;
pub const MAX_DEAD_PROP_BYTES: usize = 16 * 1024;
pub const MAX_DEAD_PROPS_BYTES: usize = 128 * 1024;

/// The dead properties a collection would hold after a change, by size, against the limits above.
fn check_dead_props(sizes: impl Iterator<Item = usize>) -> Result<()> {
    let sizes: Vec<usize> = sizes.collect();
    if sizes.len() > MAX_DEAD_PROPS {
        return Err(ServiceError::Quota(format!("a collection keeps at most {MAX_DEAD_PROPS} properties of its own")));
    }
    if sizes.iter().any(|n| *n > MAX_DEAD_PROP_BYTES) {
        return Err(ServiceError::Quota(format!("a property holds at most {MAX_DEAD_PROP_BYTES} bytes")));
    }
    if sizes.iter().sum::<usize>() > MAX_DEAD_PROPS_BYTES {
        return Err(ServiceError::Quota(format!(
            "a collection's own properties hold at most {MAX_DEAD_PROPS_BYTES} bytes together"
        )));
    }
    Ok(())
}

/// A card's resource name: one non-empty path segment.
pub fn validate_href(href: &str) -> Result<()> {
    if href.is_empty()
        || href.len() > 255
        || href.contains('/')
        || href == "."
        || href == ".."
        || href.chars().any(char::is_control)
    {
        return Err(ServiceError::Invalid("a card's name is one path segment of 1 to 255 bytes".into()));
    }
    Ok(())
}
