//! Which names a request may give: device names (a bridge, an OVS internal
//! port, a bond, a VLAN device netswitch derives) and store names (any
//! network, a file in the persistence store).
//!
//! The rules are allowlists, checked before any op: a name the kernel would
//! rewrite (`vm%d` is a template, the kernel makes `vm0` of it and rollback
//! then looks for `vm%d`), refuse (`.`, `..`, `/`, `:`, white space, more
//! than 15 bytes) or keep for itself (`all` and `default` under
//! `/proc/sys/net/*/conf`, `bonding_masters` in `/sys/class/net`) fails here
//! with the culprit named, not in the middle of an apply after a nic came
//! up. A name the store would skip when reading back (a dotfile) fails here
//! too, so what is applied is always what caps and removal can find.

/// The kernel's limit on a device name, in bytes (`IFNAMSIZ` - 1).
pub const IFNAME_MAX: usize = 15;

/// The longest network name the store can hold (a file name).
pub const STORE_NAME_MAX: usize = 255;

/// Names the kernel keeps for itself in `/proc/sys/net/*/conf` and
/// `/sys/class/net`: a device of that name cannot be made.
const RESERVED: &[&str] = &["all", "default", "bonding_masters"];

/// Whether `c` may appear in a device name netswitch creates: ASCII letters,
/// digits, `_` and `-`. Anything else is a kernel template (`%`), an alias
/// or VLAN separator (`:` `.`), a path (`/`), or text tools print oddly.
fn device_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The rules for a device netswitch creates under a name from the request
/// (code 27 for a network, 25 for a bond; the caller picks).
pub fn check_device_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("name is empty".into());
    }
    if let Some(c) = name.chars().find(|c| !device_char(*c)) {
        return Err(format!(
            "name contains {c:?}; a device name may hold only ASCII letters, digits, '_' and '-'"
        ));
    }
    if name.len() > IFNAME_MAX {
        return Err(format!(
            "name is {} bytes long; a device name has at most {IFNAME_MAX}",
            name.len()
        ));
    }
    if name.starts_with('-') {
        return Err("name starts with '-'".into());
    }
    if RESERVED.contains(&name) {
        return Err(format!("{name:?} is a name the kernel reserves"));
    }
    Ok(())
}

/// The rules for any network name, bridged or not: it names a file in the
/// persistence store, which skips dotfiles when it lists a directory, so
/// it must be a printable path component that does not start with `.`.
pub fn check_store_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("network name is empty".into());
    }
    if name.len() > STORE_NAME_MAX {
        return Err(format!(
            "network name is longer than {STORE_NAME_MAX} bytes"
        ));
    }
    if name.starts_with('.') || name.starts_with('-') {
        return Err(format!(
            "{name:?} is not a usable network name (it may not start with '.' or '-')"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || c.is_whitespace() || c.is_control())
    {
        return Err(format!("network name contains {c:?}"));
    }
    Ok(())
}

/// VDSM's bond name rule, `^bond\w+$` with ASCII word characters, and a
/// device name.
pub fn check_bond_name(name: &str) -> Result<(), String> {
    let rest = name.strip_prefix("bond").unwrap_or("");
    if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("bond names must match bond\\w+ (bond, then letters, digits or _)".into());
    }
    check_device_name(name)
}

/// The name of the VLAN device netswitch makes for `id` on `base`.
pub fn vlan_device(base: &str, id: u16) -> String {
    format!("{base}.{id}")
}

/// The rule for a VLAN device name netswitch derives: the kernel's length
/// limit (a 13-byte nic with VLAN 100 would need 17).
pub fn check_vlan_device(base: &str, id: u16) -> Result<(), String> {
    let dev = vlan_device(base, id);
    if dev.len() > IFNAME_MAX {
        return Err(format!(
            "the VLAN device {dev} would be {} bytes long; a device name has at most {IFNAME_MAX}",
            dev.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_separators_and_reserved_names_are_not_device_names() {
        for bad in [
            "vm%d",
            "a:1",
            "a.b",
            ".",
            "..",
            "a/b",
            "a b",
            "a\tb",
            "all",
            "default",
            "-x",
            "é",
            "🦀",
            "",
            "sixteen_chars_xx",
        ] {
            assert!(check_device_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["ovirtmgmt", "vm-net_1", "a", "fifteen_chars_x"] {
            assert!(check_device_name(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn store_names_refuse_dotfiles_and_paths() {
        for bad in [".hidden", ".", "..", "a/b", "-a", "a b", ""] {
            assert!(check_store_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a.b", "net%d", "🦀", "all"] {
            assert!(check_store_name(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn bonding_masters_is_not_a_bond_name() {
        assert!(check_bond_name("bonding_masters").is_err());
        assert!(check_bond_name("bond_1").is_ok());
    }

    #[test]
    fn derived_vlan_names_fit_the_kernel() {
        assert!(check_vlan_device("bond_abcdefg", 42).is_ok());
        assert!(check_vlan_device("bond_abcdefghij", 100).is_err());
    }
}
