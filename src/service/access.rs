//! Pure permission decisions: a level and an action give allow or deny. No IO.
//!
//! Every protocol path asks here through `service/`; nothing else compares levels.

use std::fmt;

/// Cumulative levels (DESIGN.md §1): each includes everything below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    View,
    Edit,
    Delete,
    Share,
    Owner,
}

impl Level {
    pub const ALL: [Level; 5] = [Level::View, Level::Edit, Level::Delete, Level::Share, Level::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::View => "view",
            Level::Edit => "edit",
            Level::Delete => "delete",
            Level::Share => "share",
            Level::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What someone wants to do to a collection (My contacts or a label) or a card in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// List and read cards.
    Read,
    /// Change an existing card.
    EditCard,
    /// Add a new card, or label an existing contact.
    AddCard,
    /// Take a card out of the collection.
    RemoveCard,
    /// Change displayname, description and dead properties.
    WriteProperties,
    /// Invite, change and revoke collaborators.
    Share,
    /// Rename, delete or transfer the label.
    Administer,
    /// Put back what was taken off the label (the trash).
    Restore,
}

impl Action {
    /// The lowest level that may perform the action.
    pub fn required_level(self) -> Level {
        match self {
            Action::Read => Level::View,
            Action::EditCard | Action::AddCard => Level::Edit,
            Action::RemoveCard => Level::Delete,
            Action::WriteProperties | Action::Share | Action::Restore => Level::Share,
            Action::Administer => Level::Owner,
        }
    }

    /// The WebDAV privilege (RFC 3744 §3) a client lacking this action is told about in DAV:need-privileges.
    pub fn dav_privilege(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::EditCard => "write-content",
            Action::AddCard => "bind",
            Action::RemoveCard => "unbind",
            Action::WriteProperties | Action::Share | Action::Administer | Action::Restore => "write-properties",
        }
    }
}

pub fn allows(level: Level, action: Action) -> bool {
    level >= action.required_level()
}

/// Whether someone at `actor` may give, change or take away a grant at `target` (share-level
/// collaborators manage others up to their own level; nobody grants owner, which only a transfer moves).
pub fn may_manage_grant(actor: Level, target: Level) -> bool {
    allows(actor, Action::Share) && target <= actor && target < Level::Owner
}

/// What a level lets its holder do on a label (`label`) or on My contacts, for clients to show or hide
/// controls by: they read this and never compare levels themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    pub edit_contacts: bool,
    pub add_contacts: bool,
    pub remove_contacts: bool,
    /// Rename the book and change its description.
    pub change_properties: bool,
    pub share: bool,
    /// Delete, transfer and hide fields: the owner's alone.
    pub administer: bool,
    pub restore: bool,
    /// The levels this holder may give a collaborator, lowest first (empty when they cannot share).
    pub grant_levels: Vec<Level>,
}

pub fn allowed(level: Level, label: bool) -> Allowed {
    let share = label && allows(level, Action::Share);
    Allowed {
        edit_contacts: allows(level, Action::EditCard),
        add_contacts: allows(level, Action::AddCard),
        remove_contacts: allows(level, Action::RemoveCard),
        change_properties: allows(level, Action::WriteProperties),
        share,
        administer: label && allows(level, Action::Administer),
        restore: allows(level, Action::Restore),
        grant_levels: if share {
            [Level::View, Level::Edit, Level::Delete, Level::Share]
                .into_iter()
                .filter(|l| may_manage_grant(level, *l))
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// The RFC 3744 privileges a level holds, as reported in DAV:current-user-privilege-set.
pub fn dav_privileges(level: Level) -> Vec<&'static str> {
    let mut p = vec!["read", "read-current-user-privilege-set"];
    if level >= Level::Edit {
        p.extend(["write-content", "bind"]);
    }
    if level >= Level::Delete {
        p.push("unbind");
    }
    if level >= Level::Share {
        // Managing collaborators is RFC 3744's reading and changing who has access (done in the dashboard or
        // the API; this server has no ACL method).
        p.extend(["write-properties", "read-acl", "write-acl"]);
    }
    if level >= Level::Owner {
        p.extend(["write", "all"]);
    }
    p
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Safe methods only (GET, HEAD): dashboards on a wall, backups, reports.
    Read,
    /// Everything its user may do.
    Write,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }
}

/// How a request proved who it is. Besides the user's levels, it bounds what the request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// The account password (HTTP Basic).
    Password,
    /// An app password (a device).
    AppPassword,
    /// A dashboard session cookie (its unsafe requests carry the CSRF token).
    Session,
    /// An API token (Bearer).
    Token(Scope),
}

/// Whether a request with this credential may use a method at all: a read-scoped token only reads.
pub fn credential_allows(credential: Credential, safe_method: bool) -> bool {
    safe_method || credential != Credential::Token(Scope::Read)
}

/// Whether this credential may create or revoke credentials (app passwords, API tokens, sessions of others):
/// only the person, by password or dashboard session. A stolen device or script credential must not be able to
/// mint itself a successor that outlives its revocation.
pub fn may_manage_credentials(credential: Credential) -> bool {
    matches!(credential, Credential::Password | Credential::Session)
}

/// Whether someone may run the server (accounts, groups, domains): an administrator, as a person. A device's
/// app password or a script's token of an administrator does not carry that power.
pub fn may_administer(is_admin: bool, credential: Credential) -> bool {
    is_admin && may_manage_credentials(credential)
}

/// Whether `actor` may turn the Google bridge on or off for an account, or ask it to sync: their own, with a
/// credential that may write, or anyone's as an administrator (the person, not a device or a script).
pub fn may_manage_bridge(own: bool, is_admin: bool, credential: Credential) -> bool {
    (own && credential_allows(credential, false)) || may_administer(is_admin, credential)
}

/// Whether `actor` may see the Google bridge's state of an account: their own, or anyone's as an administrator.
pub fn may_see_bridge(own: bool, is_admin: bool, credential: Credential) -> bool {
    own || may_administer(is_admin, credential)
}

/// Whom a person may find when they look for people to share with (the dashboard's completion, CardDAV's
/// principal-property-search): an administrator, or anyone when the server says so (`directory_everyone`),
/// finds every account; everyone else finds their own domain and the people a label is already shared
/// between, so no account can list the whole server.
pub fn may_search_everyone(is_admin: bool, directory_everyone: bool) -> bool {
    is_admin || directory_everyone
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_cumulative() {
        let expect = [
            (Level::View, vec![Action::Read]),
            (Level::Edit, vec![Action::Read, Action::EditCard, Action::AddCard]),
            (Level::Delete, vec![Action::Read, Action::EditCard, Action::AddCard, Action::RemoveCard]),
            (
                Level::Share,
                vec![
                    Action::Read,
                    Action::EditCard,
                    Action::AddCard,
                    Action::RemoveCard,
                    Action::WriteProperties,
                    Action::Share,
                    Action::Restore,
                ],
            ),
        ];
        let all = [
            Action::Read,
            Action::EditCard,
            Action::AddCard,
            Action::RemoveCard,
            Action::WriteProperties,
            Action::Share,
            Action::Administer,
            Action::Restore,
        ];
        for (level, allowed) in expect {
            for action in all {
                assert_eq!(allows(level, action), allowed.contains(&action), "{level} {action:?}");
            }
        }
        assert!(all.iter().all(|a| allows(Level::Owner, *a)));
    }

    #[test]
    fn managers_grant_up_to_their_own_level_never_owner() {
        assert!(may_manage_grant(Level::Owner, Level::Share));
        // What clients are told agrees with the rule.
        assert_eq!(allowed(Level::Share, true).grant_levels, [Level::View, Level::Edit, Level::Delete, Level::Share]);
        assert_eq!(allowed(Level::Owner, true).grant_levels.len(), 4);
        assert!(allowed(Level::Delete, true).grant_levels.is_empty() && !allowed(Level::Delete, true).share);
        assert!(!allowed(Level::Owner, false).share, "My contacts is not shared as a whole");
        assert!(allowed(Level::Owner, false).remove_contacts && !allowed(Level::Owner, false).administer);
        assert!(allowed(Level::Edit, true).edit_contacts && !allowed(Level::Edit, true).remove_contacts);
        assert!(!may_manage_grant(Level::Owner, Level::Owner));
        assert!(may_manage_grant(Level::Share, Level::Share));
        assert!(may_manage_grant(Level::Share, Level::View));
        for below in [Level::View, Level::Edit, Level::Delete] {
            assert!(!may_manage_grant(below, Level::View), "{below} cannot share");
        }
    }

    #[test]
    fn privileges_match_levels() {
        // Exactly the level's privileges, each level adding to the one below.
        let read = ["read", "read-current-user-privilege-set"];
        assert_eq!(dav_privileges(Level::View), read);
        assert_eq!(dav_privileges(Level::Edit), [&read[..], &["write-content", "bind"]].concat());
        assert_eq!(dav_privileges(Level::Delete), [&dav_privileges(Level::Edit)[..], &["unbind"]].concat());
        let share = [&dav_privileges(Level::Delete)[..], &["write-properties", "read-acl", "write-acl"]].concat();
        assert_eq!(dav_privileges(Level::Share), share);
        assert_eq!(dav_privileges(Level::Owner), [&share[..], &["write", "all"]].concat());
        assert_eq!(Level::parse("share"), Some(Level::Share));
        assert_eq!(Level::parse("admin"), None);
    }

    #[test]
    fn read_tokens_only_read_and_only_people_manage_credentials() {
        assert!(credential_allows(Credential::Token(Scope::Read), true));
        assert!(!credential_allows(Credential::Token(Scope::Read), false));
        assert!(credential_allows(Credential::Token(Scope::Write), false));
        assert!(credential_allows(Credential::Session, false));
        assert!(may_manage_credentials(Credential::Password));
        assert!(may_manage_credentials(Credential::Session));
        assert!(!may_manage_credentials(Credential::AppPassword));
        assert!(!may_manage_credentials(Credential::Token(Scope::Write)));
        assert!(may_administer(true, Credential::Session));
        assert!(!may_administer(false, Credential::Password));
        assert!(!may_administer(true, Credential::AppPassword));
        assert!(!may_administer(true, Credential::Token(Scope::Write)));
    }

    #[test]
    fn the_google_bridge_is_managed_by_its_user_or_an_administrator() {
        assert!(may_manage_bridge(true, false, Credential::Session));
        assert!(may_manage_bridge(true, false, Credential::Token(Scope::Write)));
        assert!(!may_manage_bridge(true, false, Credential::Token(Scope::Read)), "a read token only reads");
        assert!(!may_manage_bridge(false, false, Credential::Session), "not someone else's");
        assert!(may_manage_bridge(false, true, Credential::Session));
        assert!(
            !may_manage_bridge(false, true, Credential::AppPassword),
            "an administrator's device is no administrator"
        );
        assert!(may_see_bridge(true, false, Credential::Token(Scope::Read)));
        assert!(!may_see_bridge(false, false, Credential::Password));
        assert!(may_see_bridge(false, true, Credential::Password));
    }
}
