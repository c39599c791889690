//! Neutron v2.0 calls: networks, subnets, ports and security groups, with
//! the few attributes a host needs typed and the whole object kept.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::url::encode;
use crate::{Client, Error};

/// A network as the provider lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default = "yes")]
    pub port_security_enabled: bool,
    #[serde(default)]
    pub subnets: Vec<String>,
}

fn yes() -> bool {
    true
}

/// A port as the provider shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Port {
    pub id: String,
    #[serde(default)]
    pub network_id: String,
    #[serde(default)]
    pub mac_address: String,
    #[serde(default)]
    pub device_id: String,
    #[serde(default)]
    pub device_owner: String,
    #[serde(rename = "binding:host_id", default)]
    pub host_id: String,
    #[serde(default)]
    pub security_groups: Vec<String>,
    #[serde(default)]
    pub fixed_ips: Vec<Value>,
}

/// What a new port gets, as oVirt engine sends it.
#[derive(Debug, Clone)]
pub struct PortRequest {
    pub network_id: String,
    pub name: String,
    pub mac: String,
    pub device_id: String,
    pub device_owner: String,
    pub host_id: String,
    /// None: the attribute is left out (the provider applies its default).
    pub security_groups: Option<Vec<String>>,
}

fn one<T: for<'a> Deserialize<'a>>(v: &Value, key: &str, url: &str) -> Result<T, Error> {
    serde_json::from_value(v[key].clone()).map_err(|e| Error::Protocol {
        url: url.into(),
        why: format!("{key}: {e}"),
    })
}

impl Client {
    /// Every network the provider has.
    pub fn networks(&mut self) -> Result<Vec<Network>, Error> {
        let v = self.call("GET", "/networks", None)?;
        one(&v, "networks", "/v2.0/networks")
    }

    /// A network by id, else by name (as oVirt looks networks up): 27
    /// when there is none, 21 when the name is ambiguous.
    pub fn find_network(&mut self, key: &str) -> Result<Network, Error> {
        match self.call("GET", &format!("/networks/{}", encode(key)), None) {
            Ok(v) => return one(&v, "network", "/v2.0/networks"),
            Err(Error::Api { status: 404, .. }) => {}
            Err(e) => return Err(e),
        }
        let v = self.call("GET", &format!("/networks?name={}", encode(key)), None)?;
        let mut found: Vec<Network> = one(&v, "networks", "/v2.0/networks")?;
        match found.len() {
            0 => Err(Error::NotFound {
                what: format!("network {key:?}"),
            }),
            1 => Ok(found.remove(0)),
            n => Err(Error::Ambiguous {
                what: format!("network {key:?}"),
                count: n,
            }),
        }
    }

    /// The subnets of a network (whole objects).
    pub fn subnets(&mut self, network_id: &str) -> Result<Vec<Value>, Error> {
        let v = self.call(
            "GET",
            &format!("/subnets?network_id={}", encode(network_id)),
            None,
        )?;
        one(&v, "subnets", "/v2.0/subnets")
    }

    /// The ports whose `device_id` is `device_id`.
    pub fn ports_of_device(&mut self, device_id: &str) -> Result<Vec<Port>, Error> {
        let v = self.call(
            "GET",
            &format!("/ports?device_id={}", encode(device_id)),
            None,
        )?;
        one(&v, "ports", "/v2.0/ports")
    }

    /// A port by id (27 when the provider has none).
    pub fn port(&mut self, id: &str) -> Result<Port, Error> {
        match self.call("GET", &format!("/ports/{}", encode(id)), None) {
            Ok(v) => one(&v, "port", "/v2.0/ports"),
            Err(Error::Api { status: 404, .. }) => Err(Error::NotFound {
                what: format!("port {id}"),
            }),
            Err(e) => Err(e),
        }
    }

    /// Creates a port.
    pub fn create_port(&mut self, r: &PortRequest) -> Result<Port, Error> {
        let mut port = json!({
            "network_id": r.network_id, "name": r.name, "mac_address": r.mac,
            "device_id": r.device_id, "device_owner": r.device_owner,
            "binding:host_id": r.host_id, "admin_state_up": true,
        });
        if let Some(sgs) = &r.security_groups {
            port["security_groups"] = json!(sgs);
        }
        let v = self.call("POST", "/ports", Some(&json!({ "port": port })))?;
        one(&v, "port", "/v2.0/ports")
    }

    /// Deletes a port; one already gone counts as deleted.
    pub fn delete_port(&mut self, id: &str) -> Result<(), Error> {
        match self.call("DELETE", &format!("/ports/{}", encode(id)), None) {
            Ok(_) | Err(Error::Api { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Security groups, all or those called `name` (whole objects).
    pub fn security_groups(&mut self, name: Option<&str>) -> Result<Vec<Value>, Error> {
        let tail = match name {
            Some(n) => format!("/security-groups?name={}", encode(n)),
            None => "/security-groups".into(),
        };
        let v = self.call("GET", &tail, None)?;
        one(&v, "security_groups", "/v2.0/security-groups")
    }
}

impl Client {
    /// Moves a port's binding to `host_id` (a VM that came to this host).
    pub fn set_port_host(&mut self, id: &str, host_id: &str) -> Result<(), Error> {
        let body = json!({"port": {"binding:host_id": host_id}});
        self.call("PUT", &format!("/ports/{}", encode(id)), Some(&body))?;
        Ok(())
    }
}
