//! `netswitch provider`: the engine side of an external network provider
//! (docs/api.md §11), as CLI verbs over `netswitch-provider-client` (which
//! the daemon's `Host.*Provider*` methods share). Providers are recorded in
//! the state directory; `test` and `networks` ask the provider; `import`
//! makes one of its networks a VM network of this host; `vnic plug
//! --provider` ([`plug`]) allocates ports from it.
//!
//! These verbs talk to the provider from this process, inside `--netns`
//! when given (the provider is reached from the host's network namespace),
//! whether or not a daemon runs.

pub mod plug;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use netswitch_provider_client::{ops, AddRequest, Store};
use serde_json::json;

use crate::args::Global;
use crate::failure::Failure;
use crate::out;
pub(crate) use crate::verbs::say;

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

impl From<netswitch_provider_client::Error> for Failure {
    fn from(e: netswitch_provider_client::Error) -> Self {
        Failure::new(e.code, e.message)
    }
}

fn add(store: &Store, as_json: bool, a: &AddArgs) -> Result<(), Failure> {
    let req = AddRequest {
        name: a.name.clone(),
        url: a.url.clone(),
        auth_url: a.auth_url.clone(),
        keystone_version: a.keystone_version.clone(),
        user: a.user.clone(),
        password: a.password.clone(),
        tenant: a.tenant.clone(),
        region: a.region.clone(),
        ca: a.ca.clone(),
        read_only: a.read_only,
    };
    let p = ops::add(store, &req)?;
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
    let t = ops::test(store, name)?;
    let message = format!(
        "provider {name}: authenticated; {} networks at {}",
        t.networks, t.url
    );
    say(
        as_json,
        &message,
        json!({"provider": name, "networks": t.networks, "url": t.url}),
    );
    Ok(())
}

fn remove(store: &Store, as_json: bool, name: &str) -> Result<(), Failure> {
    ops::remove(store, name)?;
    say(as_json, &format!("provider {name} removed"), json!({}));
    Ok(())
}

fn networks(store: &Store, as_json: bool, name: &str) -> Result<(), Failure> {
    let nets = ops::networks(store, name)?;
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
    let e = ops::import(store, name, network)?;
    let message = format!("network {} ({}) of provider {name} imported", e.name, e.id);
    say(as_json, &message, json!({ "externalNetwork": e }));
    Ok(())
}

fn unimport(store: &Store, as_json: bool, network: &str) -> Result<(), Failure> {
    ops::unimport(store, network)?;
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
