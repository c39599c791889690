//! The provider's config file (JSON): where it listens, which NB it serves,
//! who may log in. Every field has a default but `users`, so a config can
//! be as small as `{"users": {"admin": "secret"}}`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;

/// The default config path.
pub const DEFAULT_PATH: &str = "/etc/netswitch/provider-ovn.json";

/// The whole config.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Keystone's listener (default `0.0.0.0:35357`).
    pub keystone_listen: SocketAddr,
    /// Neutron's listener (default `0.0.0.0:9696`).
    pub neutron_listen: SocketAddr,
    /// The URLs put in the service catalog, as clients must reach them;
    /// default `http(s)://<listen address>` (with 0.0.0.0 that is only
    /// right for local clients: set these on a real host).
    pub keystone_url: Option<String>,
    /// See [`Config::keystone_url`].
    pub neutron_url: Option<String>,
    /// The NB remotes (`tcp:HOST:6641`, `unix:PATH`); an entry may list a
    /// cluster's servers as ovn-nbctl takes them (`tcp:A:6641,tcp:B:6641`).
    /// The provider follows whichever leads.
    pub nb_remotes: Vec<String>,
    /// User name to password.
    pub users: BTreeMap<String, String>,
    /// The project every user is a member of.
    pub project: String,
    /// The region named in catalogs.
    pub region: String,
    /// How long a token lives, in seconds.
    pub token_lifetime_secs: u64,
    /// TLS certificate (PEM); TLS is not built yet, so setting it is refused.
    pub cert: Option<PathBuf>,
    /// TLS key (PEM).
    pub key: Option<PathBuf>,
    /// The largest request body, in bytes.
    pub max_body: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            keystone_listen: ([0, 0, 0, 0], 35357).into(),
            neutron_listen: ([0, 0, 0, 0], 9696).into(),
            keystone_url: None,
            neutron_url: None,
            nb_remotes: vec!["unix:/var/run/ovn/ovnnb_db.sock".into()],
            users: BTreeMap::new(),
            project: "admin".into(),
            region: "RegionOne".into(),
            token_lifetime_secs: 3600,
            cert: None,
            key: None,
            max_body: 16 << 20,
        }
    }
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// Parses and checks a config text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let c: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if c.users.is_empty() {
            return Err("users: at least one user is needed".into());
        }
        if c.nb_remotes.is_empty() {
            return Err("nb_remotes: at least one remote is needed".into());
        }
        if c.token_lifetime_secs == 0 {
            return Err("token_lifetime_secs: must be at least 1".into());
        }
        if c.cert.is_some() || c.key.is_some() {
            return Err("cert/key: TLS is not built yet (docs/api.md, provider)".into());
        }
        Ok(c)
    }

    /// Keystone's URL in catalogs.
    pub fn keystone_base(&self) -> String {
        self.keystone_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.keystone_listen))
    }

    /// Neutron's URL in catalogs.
    pub fn neutron_base(&self) -> String {
        self.neutron_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.neutron_listen))
    }
}
