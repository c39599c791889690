//! IPv6 autoconf through the kernel's own RA handling: the per-device
//! `net.ipv6.conf.<dev>.*` sysctls of the current network namespace
//! (`/proc/sys/net` shows the namespace of the process that opens it).

use std::collections::BTreeMap;
use std::path::PathBuf;

use tracing::debug;

use crate::spec::RaSettings;
use crate::DhcpError;

fn knob(dev: &str, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/sys/net/ipv6/conf/{dev}/{name}"))
}

/// Writes `accept_ra`, `autoconf` and `accept_ra_defrtr` of each device
/// that exists; a device without IPv6 (disabled, or gone) is skipped.
/// Device names come from the validated config (no `/`, at most 15 bytes).
pub fn apply(settings: &BTreeMap<String, RaSettings>) -> Result<(), DhcpError> {
    for (dev, s) in settings {
        if dev.contains('/') || dev.starts_with('.') || !knob(dev, "accept_ra").exists() {
            continue;
        }
        for (name, on) in [
            ("accept_ra_defrtr", s.defrtr),
            ("autoconf", s.autoconf),
            ("accept_ra", s.accept_ra),
        ] {
            let path = knob(dev, name);
            let want = if on { "1" } else { "0" };
            if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == want) {
                continue;
            }
            std::fs::write(&path, want).map_err(|e| DhcpError::io(&path, e))?;
            debug!(dev, name, value = want, "ipv6 sysctl set");
        }
    }
    Ok(())
}
