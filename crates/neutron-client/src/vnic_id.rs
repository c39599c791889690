//! The vNIC id a port's `device_id` carries: oVirt engine puts its vNIC's
//! UUID there. Without an engine there is no such UUID, so it is derived
//! from what identifies the vNIC, the VM and the MAC: a name-based UUID
//! (RFC 9562 version 5, SHA-1), the same on every host and every retry,
//! which is what lets a plug find the port an earlier, crashed plug made.

/// The namespace of netswitch's vNIC ids (a fixed random UUID).
const NAMESPACE: [u8; 16] = [
    0x6b, 0x1f, 0x0c, 0x4e, 0x93, 0x55, 0x4a, 0x43, 0x9d, 0x0e, 0x2c, 0x7a, 0x51, 0xb8, 0x3f, 0x16,
];

/// The vNIC id of VM `vm`'s vNIC with `mac` (any case, `:` or `-`).
pub fn vnic_id(vm: &str, mac: &str) -> String {
    let mac = mac.to_ascii_lowercase().replace('-', ":");
    let mut name = NAMESPACE.to_vec();
    name.extend_from_slice(format!("{vm}/{mac}").as_bytes());
    let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &name);
    let mut b = [0u8; 16];
    b.copy_from_slice(&d.as_ref()[..16]);
    netswitch_ovsdb::Uuid::from_bytes(b, 5).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_distinct() {
        let a = vnic_id("vm-1", "52:54:00:00:01:01");
        assert_eq!(
            a,
            vnic_id("vm-1", "52-54-00-00-01-01".to_uppercase().as_str())
        );
        assert_ne!(a, vnic_id("vm-2", "52:54:00:00:01:01"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "5");
    }
}
