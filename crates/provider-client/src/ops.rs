//! The provider verbs: record (`add`), test, remove, list networks,
//! import and forget (`unimport`) a network. Each checks everything before
//! it writes anything, so a refusal changes nothing.

use std::path::PathBuf;
use std::time::Duration;

use netswitch_neutron_client::{Client, Credentials, Network, Settings, Version};

use crate::store::{check_name, External, Provider, Secret, Store};
use crate::{at, Error};

/// A provider to record, as `provider add` and `Host.addProvider` take it.
#[derive(Debug, Clone, Default)]
pub struct AddRequest {
    pub name: String,
    /// Neutron's URL; none: the catalog's public network endpoint.
    pub url: Option<String>,
    pub auth_url: String,
    /// `3`, `v3`, `2.0` or `v2.0`; none: what `auth_url` ends with, else 3.
    pub keystone_version: Option<String>,
    pub user: String,
    pub password: String,
    /// Project (v3) or tenant (v2.0); none: an unscoped token.
    pub tenant: Option<String>,
    pub region: Option<String>,
    pub ca: Option<PathBuf>,
    pub read_only: bool,
}

/// What `test` found: Neutron's URL and its number of networks.
#[derive(Debug, Clone)]
pub struct Tested {
    pub url: String,
    pub networks: usize,
}

/// Records a provider (replacing one of the same name); the password goes
/// to its own 0600 file. Refused (21) with a bad name, user, URL or
/// Keystone version before anything is written.
pub fn add(store: &Store, a: &AddRequest) -> Result<Provider, Error> {
    check_name("provider", &a.name)?;
    let bad =
        |what: &str, why: String| Error::new(21, format!("provider {}: {what}: {why}", a.name));
    let version = match &a.keystone_version {
        Some(v) => Version::parse(v)
            .ok_or_else(|| bad("keystoneVersion", format!("{v:?} is not 3 or 2.0")))?,
        None => Version::of_url(&a.auth_url),
    };
    if a.user.is_empty() {
        return Err(bad("user", "empty".into()));
    }
    let url_check = |u: &str, what: &str| {
        netswitch_neutron_client::url::Url::parse(u)
            .map(|_| ())
            .map_err(|e| bad(what, e.to_string()))
    };
    url_check(&a.auth_url, "authUrl")?;
    if let Some(u) = &a.url {
        url_check(u, "url")?;
    }
    let p = Provider {
        name: a.name.clone(),
        url: a.url.clone(),
        auth_url: a.auth_url.clone(),
        keystone_version: version,
        username: a.user.clone(),
        project: a.tenant.clone(),
        region: a.region.clone(),
        ca_file: a.ca.clone(),
        read_only: a.read_only,
    };
    let secret = Secret {
        password: a.password.clone(),
    };
    store.save_provider(&p, &secret)?;
    Ok(p)
}

/// A client of the recorded provider `name` (27 when there is none, 21
/// when its password file is not private).
pub fn client(store: &Store, name: &str) -> Result<Client, Error> {
    let p = store.provider(name)?;
    let s = store.secret(name)?;
    let settings = Settings {
        credentials: Credentials {
            auth_url: p.auth_url.clone(),
            version: p.keystone_version,
            username: p.username.clone(),
            password: s.password,
            project: p.project.clone(),
            domain: "Default".into(),
        },
        url: p.url.clone(),
        region: p.region.clone(),
        ca_file: p.ca_file.clone(),
        timeout: Duration::from_secs(30),
    };
    Client::new(settings).map_err(at(name))
}

/// Authenticates, finds Neutron and counts its networks.
pub fn test(store: &Store, name: &str) -> Result<Tested, Error> {
    let mut c = client(store, name)?;
    c.token().map_err(at(name))?;
    let url = c.neutron_url().map_err(at(name))?;
    let nets = c.networks().map_err(at(name))?;
    Ok(Tested {
        url: url.join(""),
        networks: nets.len(),
    })
}

/// Forgets a provider, its password and its imported networks; refused
/// (21) while a vNIC holds one of its ports.
pub fn remove(store: &Store, name: &str) -> Result<(), Error> {
    store.provider(name)?;
    let users: Vec<String> = store
        .ports()?
        .into_iter()
        .filter(|(_, r)| r.provider == name)
        .map(|(d, _)| d)
        .collect();
    if !users.is_empty() {
        return Err(Error::new(
            21,
            format!(
                "provider {name}: vNICs {} hold its ports; unplug them first",
                users.join(", ")
            ),
        ));
    }
    for e in store.externals()?.iter().filter(|e| e.provider == name) {
        store.remove_external(&e.name)?;
    }
    store.remove_provider(name)
}

/// The provider's networks.
pub fn networks(store: &Store, name: &str) -> Result<Vec<Network>, Error> {
    client(store, name)?.networks().map_err(at(name))
}

/// Makes the provider's `network` (id, else name) a VM network of this
/// host under its name on the provider.
pub fn import(store: &Store, name: &str, network: &str) -> Result<External, Error> {
    let mut c = client(store, name)?;
    let n = c.find_network(network).map_err(at(name))?;
    check_name("network", &n.name)?;
    let running = netswitch_engine::Store::new(store.root()).load(netswitch_engine::Which::Running);
    if running.is_ok_and(|r| r.networks.contains_key(&n.name)) {
        return Err(Error::new(
            21,
            format!("network {}: a network of this host has the name", n.name),
        ));
    }
    if let Some(old) = store.externals()?.into_iter().find(|e| e.name == n.name) {
        if old.provider != name || old.id != n.id {
            return Err(Error::new(
                21,
                format!(
                    "network {}: already imported from provider {} (id {}); unimport it first",
                    n.name, old.provider, old.id
                ),
            ));
        }
    }
    let e = External {
        provider: name.into(),
        id: n.id.clone(),
        name: n.name.clone(),
    };
    store.save_external(&e)?;
    Ok(e)
}

/// Forgets an imported network: 27 when not imported, 21 while a vNIC
/// uses it.
pub fn unimport(store: &Store, network: &str) -> Result<External, Error> {
    check_name("network", network)?;
    let e = store
        .externals()?
        .into_iter()
        .find(|e| e.name == network)
        .ok_or_else(|| Error::new(27, format!("network {network}: not imported")))?;
    let users: Vec<String> = store
        .ports()?
        .into_iter()
        .filter(|(_, r)| r.provider == e.provider && r.network_id == e.id)
        .map(|(d, _)| d)
        .collect();
    if !users.is_empty() {
        return Err(Error::new(
            21,
            format!("network {network}: vNICs {} use it", users.join(", ")),
        ));
    }
    store.remove_external(network)?;
    Ok(e)
}
