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
    /// TLS for both listeners: the server's certificate chain (PEM);
    /// `keystone_tls` / `neutron_tls` override it per listener.
    pub cert: Option<PathBuf>,
    /// The server's private key (PEM), with `cert`.
    pub key: Option<PathBuf>,
    /// CA certificates (PEM): when set, clients must present a certificate
    /// that chains to one of them.
    pub ca: Option<PathBuf>,
    /// TLS for Keystone's listener only.
    pub keystone_tls: Option<TlsFiles>,
    /// TLS for Neutron's listener only.
    pub neutron_tls: Option<TlsFiles>,
    /// The largest request body, in bytes.
    pub max_body: usize,
    /// The chassis (their `system-id`s, most preferred first) a router's
    /// external gateway port may sit on. OVN does a router's SNAT and
    /// floating IPs only on a gateway port bound to a chassis; with none
    /// listed, gateways are made without one and NAT waits for an
    /// operator's `ovn-nbctl lrp-set-gateway-chassis`.
    pub gateway_chassis: Vec<String>,
    /// The southbound DB's remotes, in the form of `nb_remotes`. When set
    /// and `gateway_chassis` is empty, gateway ports are bound to chassis
    /// chosen from SB's gateway-capable ones (`neutron::gwchassis`).
    pub sb_remotes: Vec<String>,
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
            ca: None,
            keystone_tls: None,
            neutron_tls: None,
            max_body: 16 << 20,
            gateway_chassis: Vec::new(),
            sb_remotes: Vec::new(),
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
        match (&c.cert, &c.key) {
            (Some(_), None) => return Err("key: needed with cert".into()),
            (None, Some(_)) => return Err("cert: needed with key".into()),
            (None, None) if c.ca.is_some() => return Err("ca: needs cert and key".into()),
            _ => {}
        }
        Ok(c)
    }

    /// Keystone's TLS files, if it speaks TLS.
    pub fn keystone_tls(&self) -> Option<TlsFiles> {
        self.keystone_tls.clone().or_else(|| self.shared_tls())
    }

    /// Neutron's TLS files, if it speaks TLS.
    pub fn neutron_tls(&self) -> Option<TlsFiles> {
        self.neutron_tls.clone().or_else(|| self.shared_tls())
    }

    /// The top-level `cert`/`key`/`ca`, for both listeners.
    fn shared_tls(&self) -> Option<TlsFiles> {
        Some(TlsFiles {
            cert: self.cert.clone()?,
            key: self.key.clone()?,
            ca: self.ca.clone(),
        })
    }

    /// Keystone's URL in catalogs.
    pub fn keystone_base(&self) -> String {
        let scheme = scheme(self.keystone_tls().is_some());
        self.keystone_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{}", self.keystone_listen))
    }

    /// Neutron's URL in catalogs.
    pub fn neutron_base(&self) -> String {
        let scheme = scheme(self.neutron_tls().is_some());
        self.neutron_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{}", self.neutron_listen))
    }
}

/// One listener's TLS files (PEM).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The server's certificate chain, leaf first.
    pub cert: PathBuf,
    /// The server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// When set, a client certificate chaining to one of these CAs is
    /// required.
    #[serde(default)]
    pub ca: Option<PathBuf>,
}

fn scheme(tls: bool) -> &'static str {
    if tls {
        "https"
    } else {
        "http"
    }
}
