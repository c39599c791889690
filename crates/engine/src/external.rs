//! Networks imported from an external network provider (`netswitch
//! provider import`, docs/api.md §11): kept as
//! `<state-dir>/external-networks/NAME.json` (`{provider, id, name}`) by
//! the CLI, reported in caps as `externalNetworks`, and read-only here: a
//! setupNetworks request naming one is refused (21), since the provider,
//! not this host, owns it.

use std::collections::BTreeMap;
use std::path::Path;

use netswitch_model::caps::ExternalNetwork;
use netswitch_model::{Code, Request, RequestError};

/// The subdirectory of the state dir holding imported networks.
pub const DIR: &str = "external-networks";

/// The imported networks by name. A file that is not one (unreadable,
/// not JSON, named otherwise than its network) is skipped with a warning
/// rather than hiding the rest.
pub fn read(state_dir: &Path) -> BTreeMap<String, ExternalNetwork> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(state_dir.join(DIR)) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(net) = name.strip_suffix(".json").filter(|n| !n.starts_with('.')) else {
            continue;
        };
        let parsed = std::fs::read(e.path())
            .ok()
            .and_then(|b| serde_json::from_slice::<ExternalNetwork>(&b).ok());
        match parsed {
            Some(x) if x.name == net => {
                out.insert(x.name.clone(), x);
            }
            _ => tracing::warn!(file = %e.path().display(), "not an imported network; skipped"),
        }
    }
    out
}

/// Refuses (21) a request that names an imported network.
pub fn check_request(request: &Request, state_dir: &Path) -> Result<(), RequestError> {
    let imported = read(state_dir);
    match request.networks.keys().find_map(|n| imported.get(n)) {
        None => Ok(()),
        Some(x) => Err(RequestError::net(
            Code::BadParams,
            &x.name,
            None,
            format!(
                "an external network of provider {} (id {}), read-only here; `netswitch provider unimport {}` first",
                x.provider, x.id, x.name
            ),
        )),
    }
}
