//! Plain records the store hands out.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub book_name: String,
    pub book_description: String,
    pub book_modseq: i64,
    pub created_at: i64,
}

macro_rules! user_cols {
    () => {
        "id, email, display_name, password_hash, is_admin, disabled, book_name, book_description, book_modseq, created_at"
    };
    // The same columns for a join whose other table has an `id` of its own.
    (qualified) => {
        "users.id, users.email, users.display_name, users.password_hash, users.is_admin, users.disabled, \
         users.book_name, users.book_description, users.book_modseq, users.created_at"
    };
}
pub(crate) use user_cols;

pub(crate) type UserRow = (i64, String, String, String, bool, bool, String, String, i64, i64);

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.0,
            email: r.1,
            display_name: r.2,
            password_hash: r.3,
            is_admin: r.4,
            disabled: r.5,
            book_name: r.6,
            book_description: r.7,
            book_modseq: r.8,
            created_at: r.9,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPassword {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub password_hash: String,
    /// "books" (My contacts and every label) or "single" (one combined book, for macOS).
    pub layout: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub id: String,
    pub owner_id: i64,
    pub name: String,
    pub description: String,
    pub created_at: i64,
    pub modseq: i64,
}

macro_rules! label_cols {
    () => {
        "id, owner_id, name, description, created_at, modseq"
    };
}
pub(crate) use label_cols;

pub(crate) type LabelRow = (String, i64, String, String, i64, i64);

impl From<LabelRow> for Label {
    fn from(r: LabelRow) -> Self {
        Label { id: r.0, owner_id: r.1, name: r.2, description: r.3, created_at: r.4, modseq: r.5 }
    }
}

/// A collection of cards as the store sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Book {
    /// Every contact `owner_id` owns.
    MyContacts { owner_id: i64 },
    /// The contacts carrying a label.
    Label { label_id: String },
    /// The combined book: every contact `owner_id` owns, and every contact of `shared` (labels
    /// others own that reach the user, best first: a contact is shown as the first of them that carries it).
    /// `labels` is every label with a group card there, the user's own ones included.
    Combined { owner_id: i64, shared: Vec<String>, labels: Vec<String> },
}

impl Book {
    /// The key dead properties are stored under.
    pub fn key(&self) -> String {
        match self {
            Book::MyContacts { owner_id } => format!("contacts:{owner_id}"),
            Book::Label { label_id } => format!("label:{label_id}"),
            Book::Combined { owner_id, .. } => format!("combined:{owner_id}"),
        }
    }
}

/// What a book's own properties need, read in one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookState {
    pub token: i64,
    pub name: String,
    pub description: String,
}

/// A card in a book, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardMeta {
    pub contact_id: i64,
    pub href: String,
    pub etag: String,
    pub size: i64,
    pub updated_at: i64,
    pub modseq: i64,
    /// In the combined book, the shared label this card is shown through (`None` for the user's own).
    pub via: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub meta: CardMeta,
    /// Empty when the caller did not ask for the bytes.
    pub vcard: Vec<u8>,
}

/// One entry of a sync-collection delta: a card that is there now, or a name that is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Present(Card),
    Removed { href: String, modseq: i64 },
}

impl Change {
    pub fn href(&self) -> &str {
        match self {
            Change::Present(c) => &c.meta.href,
            Change::Removed { href, .. } => href,
        }
    }

    pub fn modseq(&self) -> i64 {
        match self {
            Change::Present(c) => c.meta.modseq,
            Change::Removed { modseq, .. } => *modseq,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadProp {
    pub ns: String,
    pub name: String,
    pub xml: String,
}

/// What a card written under a new name in a label does when the book's owner already has another live
/// contact with its UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adopt {
    /// A UID conflict: a collaborator's write never reaches the owner's other contacts.
    No,
    /// That contact is put on the label and takes the written bytes (the owner copying between books).
    Replace,
    /// That contact is put on the label as it is, provided its bytes are still the written ones (a contact
    /// put on a label from where it was read); if it changed meanwhile the write fails and overwrites nothing.
    Unchanged,
}

/// What a write stores for a card: the client's bytes and what the vCard module extracted from them.
#[derive(Debug, Clone)]
pub struct NewCard<'a> {
    pub vcard: &'a [u8],
    pub etag: String,
    pub indexed: &'a crate::vcard::Indexed,
    /// What a new name in a label does when its UID is one of the owner's other contacts.
    pub adopt_existing: Adopt,
    /// Who writes, for the history (the user, not the book's owner).
    pub actor_id: i64,
}

/// Whom a search of the accounts may find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserScope {
    Everyone,
    /// The viewer's own domain, and the people a label is shared between them and the viewer.
    Near {
        viewer_id: i64,
        viewer_email: String,
    },
}
