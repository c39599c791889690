//! What live netinfo tells its subscribers.

use serde::Serialize;

/// Something that happened to the host, as a subscriber sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum LiveEvent {
    /// A link appeared.
    #[serde(rename = "link.added")]
    LinkAdded {
        /// Its name.
        link: String,
    },
    /// A link went away.
    #[serde(rename = "link.removed")]
    LinkRemoved {
        /// Its name.
        link: String,
    },
    /// A link became usable: administratively up and operationally up (or
    /// `unknown`, as virtual devices without carrier report).
    #[serde(rename = "link.up")]
    LinkUp {
        /// Its name.
        link: String,
        /// The kernel's operational state.
        #[serde(rename = "operState")]
        oper_state: String,
    },
    /// A link stopped being usable: set down, or lost its carrier.
    #[serde(rename = "link.down")]
    LinkDown {
        /// Its name.
        link: String,
        /// Whether it is still administratively up (a carrier loss).
        #[serde(rename = "adminUp")]
        admin_up: bool,
        /// The kernel's operational state.
        #[serde(rename = "operState")]
        oper_state: String,
    },
    /// An address was added to a link.
    #[serde(rename = "address.added")]
    AddressAdded {
        /// The link's name.
        link: String,
        /// `address/prefix`.
        address: String,
    },
    /// An address was removed from a link.
    #[serde(rename = "address.removed")]
    AddressRemoved {
        /// The link's name.
        link: String,
        /// `address/prefix`.
        address: String,
    },
    /// Notifications were lost (the socket overflowed) and the whole state
    /// was dumped again; events in between may be missing.
    #[serde(rename = "resynced")]
    Resynced,
}
