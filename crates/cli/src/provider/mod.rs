//! `netswitch provider`: the engine side of an external network provider
//! (docs/api.md §11). Providers are recorded in the state directory
//! ([`store`]); `test` and `networks` ask the provider through
//! `netswitch-neutron-client`; `import` makes one of its networks a VM
//! network of this host; `vnic plug --provider` ([`plug`]) allocates
//! ports from it.
//!
//! These verbs talk to the provider from this process (the daemon never
//! does), inside `--netns` when given: the provider is reached from the
//! host's network namespace.

pub mod plug;
pub mod store;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use netswitch_neutron_client::{Client, Credentials, Settings, Version};
use serde_json::json;

use crate::args::Global;
use crate::failure::Failure;
use crate::out;
pub(crate) use crate::verbs::say;
use store::{check_name, External, Provider, Secret, Store};

/// `provider`'s verbs.
#[derive(Subcommand, Debug)]
pub enum ProviderVerb {
    /// Record a provider (replacing one of the same name); the password
    /// goes to a separate file, mode 0600.
    Add(AddArgs),
    /// The recorded providers (never their passwords).
    List,
    /// One provider's record (never its password).
    Show { name: String },
    /// Authenticate and list the provider's networks: exit 0, or 21 a bad
    /// URL or refused credentials, 29 unreachable or TLS failed.
    Test { name: String },
    /// Forget a provider and its imported networks (refused, 21, while a
    /// vNIC holds one of its ports).
    Remove { name: String },
    /// The provider's networks.
    Networks { name: String },
    /// Make the provider's NETWORK (name or id) a VM network of this host,
    /// under its name on the provider.
    Import { name: String, network: String },
    /// Forget an imported network (refused, 21, while a vNIC uses it).
    #[command(visible_alias = "forget")]
    Unimport { network: String },
}

/// `provider add`'s flags.
#[derive(Args, Debug)]
pub struct AddArgs {
    /// The provider's name here.
    pub name: String,
    /// Neutron's URL (http[s]://HOST:9696); default: the public network
    /// endpoint of Keystone's service catalog.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Keystone's URL, e.g. http://HOST:35357/v3 or .../v2.0.
    #[arg(long, value_name = "URL")]
    pub auth_url: String,
    /// 3 or 2.0 (default: what --auth-url ends with, else 3).
    #[arg(long, value_name = "VERSION", value_parser = ["3", "v3", "2.0", "v2.0"])]
    pub keystone_version: Option<String>,
    #[arg(long, value_name = "USER")]
    pub user: String,
    /// The password (or NETSWITCH_PROVIDER_PASSWORD).
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "NETSWITCH_PROVIDER_PASSWORD",
        hide_env_values = true
    )]
    pub password: String,
    /// The project (v3) or tenant (v2.0); none: an unscoped token.
    #[arg(long, visible_alias = "project", value_name = "NAME")]
    pub tenant: Option<String>,
    /// The catalog region the Neutron endpoint is taken from.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// PEM CA certificates trusted for https (default: the system's).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Mark the provider read-only (its networks are not changed from here).
    #[arg(long)]
    pub read_only: bool,
}

/// Runs a `provider` verb.
pub fn run(g: &Global, verb: &ProviderVerb) -> Result<(), Failure> {
    enter(g)?;
    let store = Store::new(&g.state_dir);
    match verb {
        ProviderVerb::Add(a) => add(&store, g.json, a),
        ProviderVerb::List => list(&store, g.json),
        ProviderVerb::Show { name } => {
            let p = store.provider(name)?;
            let doc = json!({ "provider": p });
            if g.json {
                say(true, "", doc);
            } else {
                out::stdout(&serde_saphyr::to_string(&doc["provider"]).unwrap_or_default());
            }
            Ok(())
        }
        ProviderVerb::Test { name } => test(&store, g.json, name),
        ProviderVerb::Remove { name } => remove(&store, g.json, name),
        ProviderVerb::Networks { name } => networks(&store, g.json, name),
        ProviderVerb::Import { name, network } => import(&store, g.json, name, network),
        ProviderVerb::Unimport { network } => unimport(&store, g.json, network),
    }
}

/// Into `--netns`, where the provider is reached from.
pub fn enter(g: &Global) -> Result<(), Failure> {
    if let Some(ns) = &g.netns {
        netswitch_netinfo::enter_netns(ns)?;
    }
    Ok(())
}

impl From<netswitch_neutron_client::Error> for Failure {
    fn from(e: netswitch_neutron_client::Error) -> Self {
        Failure::new(e.code(), e.to_string())
    }
}

/// A client of the recorded provider `name`.
pub fn client(store: &Store, name: &str) -> Result<Client, Failure> {
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
    Client::new(settings).map_err(|e| Failure::new(e.code(), format!("provider {name}: {e}")))
}

/// Tags a provider error with the provider's name.
pub fn at(name: &str) -> impl Fn(netswitch_neutron_client::Error) -> Failure + '_ {
    move |e| Failure::new(e.code(), format!("provider {name}: {e}"))
}

fn add(store: &Store, as_json: bool, a: &AddArgs) -> Result<(), Failure> {
    check_name("provider", &a.name)?;
    let version = match &a.keystone_version {
        Some(v) => Version::parse(v).unwrap_or(Version::V3),
        None => Version::of_url(&a.auth_url),
    };
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
    if a.user.is_empty() {
        return Err(Failure::new(
            21,
            format!("provider {}: user: empty", a.name),
        ));
    }
    // The URLs are checked before anything is written.
    let url_check = |u: &str, what: &str| {
        netswitch_neutron_client::url::Url::parse(u)
            .map(|_| ())
            .map_err(|e| Failure::new(21, format!("provider {}: {what}: {e}", a.name)))
    };
    url_check(&a.auth_url, "authUrl")?;
    if let Some(u) = &a.url {
        url_check(u, "url")?;
    }
    let secret = Secret {
        password: a.password.clone(),
    };
    store.save_provider(&p, &secret)?;
    say(
        as_json,
        &format!("provider {} recorded", a.name),
        json!({ "provider": p }),
    );
    Ok(())
}

fn list(store: &Store, as_json: bool) -> Result<(), Failure> {
    let ps = store.providers()?;
    if as_json {
        out::line(&json!({ "providers": ps }).to_string());
        return Ok(());
    }
    if ps.is_empty() {
        out::line("No providers are recorded.");
        return Ok(());
    }
    let rows = ps.iter().map(|p| {
        vec![
            p.name.clone(),
            p.url.clone().unwrap_or_else(|| "(catalog)".into()),
            p.auth_url.clone(),
            serde_json::to_value(p.keystone_version)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            p.username.clone(),
            p.project.clone().unwrap_or_else(|| "-".into()),
        ]
    });
    out::stdout(&table(
        &["name", "url", "auth url", "keystone", "user", "project"],
        rows,
    ));
    Ok(())
}

fn test(store: &Store, as_json: bool, name: &str) -> Result<(), Failure> {
    let mut c = client(store, name)?;
    c.token().map_err(at(name))?;
    let url = c.neutron_url().map_err(at(name))?;
    let nets = c.networks().map_err(at(name))?;
    let message = format!(
        "provider {name}: authenticated; {} networks at {}",
        nets.len(),
        url.join("")
    );
    say(
        as_json,
        &message,
        json!({"provider": name, "networks": nets.len(), "url": url.join("")}),
    );
    Ok(())
}

fn remove(store: &Store, as_json: bool, name: &str) -> Result<(), Failure> {
    store.provider(name)?;
    let users: Vec<String> = store
        .ports()?
        .into_iter()
        .filter(|(_, r)| r.provider == name)
        .map(|(d, _)| d)
        .collect();
    if !users.is_empty() {
        return Err(Failure::new(
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
    store.remove_provider(name)?;
    say(as_json, &format!("provider {name} removed"), json!({}));
    Ok(())
}

fn networks(store: &Store, as_json: bool, name: &str) -> Result<(), Failure> {
    let mut c = client(store, name)?;
    let nets = c.networks().map_err(at(name))?;
    if as_json {
        out::line(&json!({ "networks": nets }).to_string());
        return Ok(());
    }
    let rows = nets.iter().map(|n| {
        vec![
            n.id.clone(),
            n.name.clone(),
            n.mtu.map_or("-".into(), |m| m.to_string()),
            n.port_security_enabled.to_string(),
            n.subnets.len().to_string(),
        ]
    });
    out::stdout(&table(
        &["id", "name", "mtu", "port security", "subnets"],
        rows,
    ));
    Ok(())
}

fn import(store: &Store, as_json: bool, name: &str, network: &str) -> Result<(), Failure> {
    let mut c = client(store, name)?;
    let n = c.find_network(network).map_err(at(name))?;
    check_name("network", &n.name)?;
    let running = netswitch_engine::Store::new(store.root()).load(netswitch_engine::Which::Running);
    if running.is_ok_and(|r| r.networks.contains_key(&n.name)) {
        return Err(Failure::new(
            21,
            format!("network {}: a network of this host has the name", n.name),
        ));
    }
    if let Some(old) = store.externals()?.into_iter().find(|e| e.name == n.name) {
        if old.provider != name || old.id != n.id {
            return Err(Failure::new(
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
    let message = format!("network {} ({}) of provider {name} imported", n.name, n.id);
    say(as_json, &message, json!({ "externalNetwork": e }));
    Ok(())
}

fn unimport(store: &Store, as_json: bool, network: &str) -> Result<(), Failure> {
    check_name("network", network)?;
    let e = store
        .externals()?
        .into_iter()
        .find(|e| e.name == network)
        .ok_or_else(|| Failure::new(27, format!("network {network}: not imported")))?;
    let users: Vec<String> = store
        .ports()?
        .into_iter()
        .filter(|(_, r)| r.provider == e.provider && r.network_id == e.id)
        .map(|(d, _)| d)
        .collect();
    if !users.is_empty() {
        return Err(Failure::new(
            21,
            format!("network {network}: vNICs {} use it", users.join(", ")),
        ));
    }
    store.remove_external(network)?;
    say(as_json, &format!("network {network} forgotten"), json!({}));
    Ok(())
}

/// A table with `header` and `rows`.
fn table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    t.set_header(header.to_vec());
    for r in rows {
        t.add_row(r);
    }
    format!("{t}\n")
}
