//! The parser, the builder and the report shape, without any socket.

use netswitch_lldp::*;

fn announce() -> Announce {
    Announce {
        chassis_mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
        port_name: "eth0".into(),
        ttl: 120,
        system_name: Some("host1".into()),
        port_description: Some("uplink to tor".into()),
        vlans: vec![(100, "storage".into()), (200, "".into())],
    }
}

/// One TLV's bytes.
fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![(kind << 1) | (value.len() >> 8) as u8, value.len() as u8];
    v.extend_from_slice(value);
    v
}

fn mandatory() -> Vec<u8> {
    let mut v = tlv(1, &[4, 1, 2, 3, 4, 5, 6]);
    v.extend(tlv(2, b"\x05eth1"));
    v.extend(tlv(3, &[0, 120]));
    v
}

#[test]
fn build_then_parse_gives_back_what_was_announced() {
    let bytes = build(&announce()).unwrap();
    let pdu = parse(&bytes).unwrap();
    assert_eq!(
        pdu.chassis_id,
        Id {
            subtype: 4,
            value: vec![0x52, 0x54, 0, 0x12, 0x34, 0x56]
        }
    );
    assert_eq!(
        pdu.port_id,
        Id {
            subtype: 5,
            value: b"eth0".to_vec()
        }
    );
    assert_eq!(pdu.ttl, 120);
    assert_eq!(pdu.system_name.as_deref(), Some("host1"));
    assert_eq!(pdu.port_description.as_deref(), Some("uplink to tor"));
    assert_eq!(
        pdu.org,
        vec![
            OrgTlv::VlanName {
                vid: 100,
                name: "storage".into()
            },
            OrgTlv::VlanName {
                vid: 200,
                name: "".into()
            },
        ]
    );
    // Ethernet padding after the End TLV is ignored.
    let mut padded = bytes.clone();
    padded.extend([0u8; 20]);
    assert_eq!(parse(&padded).unwrap(), pdu);
}

#[test]
fn build_refuses_what_does_not_fit() {
    let mut a = announce();
    a.port_name = String::new();
    assert!(matches!(
        build(&a),
        Err(BuildError::Length {
            field: "port_name",
            ..
        })
    ));
    let mut a = announce();
    a.vlans = vec![(4095, "x".into())];
    assert_eq!(build(&a), Err(BuildError::Vlan(4095)));
    let mut a = announce();
    a.vlans = vec![(5, "x".repeat(33))];
    assert!(matches!(
        build(&a),
        Err(BuildError::Length {
            field: "vlan name",
            ..
        })
    ));
    let mut a = announce();
    a.system_name = Some("n".repeat(256));
    assert!(build(&a).is_err());
}

#[test]
fn report_uses_lldptool_names_and_string_values() {
    let mut bytes = mandatory();
    bytes.extend(tlv(4, b"Ethernet1/3"));
    bytes.extend(tlv(5, b"tor1"));
    bytes.extend(tlv(6, b"Switch OS 1.0"));
    bytes.extend(tlv(7, &[0, 0x14, 0, 0x04])); // bridge+router / bridge
    bytes.extend(tlv(8, &[5, 1, 192, 0, 2, 1, 2, 0, 0, 0, 7, 0]));
    bytes.extend(tlv(127, &[0x00, 0x80, 0xc2, 1, 0, 10]));
    bytes.extend(tlv(127, &[0x00, 0x80, 0xc2, 7, 3, 0, 0, 0, 9]));
    bytes.extend(tlv(127, &[0x00, 0x12, 0x0f, 4, 0x05, 0xee]));
    bytes.extend(tlv(127, &[0xaa, 0xbb, 0xcc, 9, 0xde, 0xad]));
    bytes.extend(tlv(0, &[]));
    let report = serde_json::to_value(tlvs(&parse(&bytes).unwrap())).unwrap();
    let expect = serde_json::json!([
        {"type": 1, "name": "Chassis ID", "properties": {"chassis ID subtype": "MAC", "chassis ID": "01:02:03:04:05:06"}},
        {"type": 2, "name": "Port ID", "properties": {"port ID subtype": "Ifname", "port ID": "eth1"}},
        {"type": 3, "name": "Time to Live", "properties": {"time to live": "120"}},
        {"type": 4, "name": "Port Description", "properties": {"port description": "Ethernet1/3"}},
        {"type": 5, "name": "System Name", "properties": {"system name": "tor1"}},
        {"type": 6, "name": "System Description", "properties": {"system description": "Switch OS 1.0"}},
        {"type": 7, "name": "System Capabilities", "properties": {"system capabilities": "Bridge, Router", "enabled capabilities": "Bridge"}},
        {"type": 8, "name": "Management Address", "properties": {"management address subtype": "IPv4", "management address": "192.0.2.1", "interface numbering subtype": "Ifindex", "interface numbering": "7"}},
        {"type": 127, "name": "Port VLAN ID", "oui": 0x0080c2, "subtype": 1, "properties": {"Port VLAN ID": "10"}},
        {"type": 127, "name": "Link Aggregation", "oui": 0x0080c2, "subtype": 7, "properties": {"Aggregation capable": "True", "Currently aggregated": "True", "Aggregated Port ID": "9"}},
        {"type": 127, "name": "MTU", "oui": 0x00120f, "subtype": 4, "properties": {"mtu": "1518"}},
        {"type": 127, "name": "Unknown", "oui": 0xaabbcc, "subtype": 9, "properties": {"info": "dead"}},
    ]);
    assert_eq!(report, expect);
}

#[test]
fn malformed_frames_get_typed_errors() {
    let m = mandatory();
    assert_eq!(
        parse(&m[..m.len() - 1]),
        Err(ParseError::Truncated { offset: 16 })
    );
    assert_eq!(parse(&[0x02]), Err(ParseError::Truncated { offset: 0 }));
    assert_eq!(
        parse(&[]),
        Err(ParseError::Mandatory {
            expected: 1,
            found: 0
        })
    );
    // Port ID first.
    let mut swapped = tlv(2, b"\x05eth1");
    swapped.extend(tlv(1, &[4, 1, 2, 3, 4, 5, 6]));
    assert_eq!(
        parse(&swapped),
        Err(ParseError::Mandatory {
            expected: 1,
            found: 2
        })
    );
    // Missing TTL.
    let mut no_ttl = tlv(1, &[4, 1, 2, 3, 4, 5, 6]);
    no_ttl.extend(tlv(2, b"\x05eth1"));
    assert_eq!(
        parse(&no_ttl),
        Err(ParseError::Mandatory {
            expected: 3,
            found: 0
        })
    );
    // TTL of 3 bytes, empty chassis id, End TLV with a length.
    let mut bad_ttl = tlv(1, &[4, 1]);
    bad_ttl.extend(tlv(2, b"\x05e"));
    bad_ttl.extend(tlv(3, &[0, 0, 1]));
    assert_eq!(
        parse(&bad_ttl),
        Err(ParseError::BadLength {
            tlv_type: 3,
            len: 3
        })
    );
    assert_eq!(
        parse(&tlv(1, &[4])),
        Err(ParseError::BadLength {
            tlv_type: 1,
            len: 1
        })
    );
    let mut bad_end = m.clone();
    bad_end.extend([0x00, 0x01, 0x00]);
    assert_eq!(
        parse(&bad_end),
        Err(ParseError::BadLength {
            tlv_type: 0,
            len: 1
        })
    );
    let mut dup = m.clone();
    dup.extend(tlv(3, &[0, 1]));
    assert_eq!(parse(&dup), Err(ParseError::Duplicate(3)));
    let mut caps = m.clone();
    caps.extend(tlv(7, &[0, 4, 0]));
    assert_eq!(
        parse(&caps),
        Err(ParseError::BadLength {
            tlv_type: 7,
            len: 3
        })
    );
    let mut short_org = m.clone();
    short_org.extend(tlv(127, &[0, 0x80, 0xc2]));
    assert_eq!(
        parse(&short_org),
        Err(ParseError::BadLength {
            tlv_type: 127,
            len: 3
        })
    );
}

#[test]
fn huge_tlv_counts_are_refused_and_odd_ones_kept_raw() {
    let mut many = mandatory();
    for _ in 0..MAX_TLVS {
        many.extend(tlv(20, &[]));
    }
    assert_eq!(parse(&many), Err(ParseError::TooManyTlvs));
    let mut odd = mandatory();
    odd.extend(tlv(20, &[1, 2]));
    // A known org subtype with a wrong length stays raw, not an error.
    odd.extend(tlv(127, &[0, 0x80, 0xc2, 1, 9]));
    let pdu = parse(&odd).unwrap();
    assert_eq!(pdu.unknown, vec![(20, vec![1, 2])]);
    assert_eq!(
        pdu.org,
        vec![OrgTlv::Unknown {
            oui: OUI_IEEE_8021,
            subtype: 1,
            data: vec![9]
        }]
    );
}

/// xorshift64*: a seeded generator, so a failing case can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

/// A frame of random TLVs (sometimes starting with the mandatory ones),
/// then mutated: bytes flipped, cut short or extended.
fn random_frame(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut f = if rng.below(2) == 0 {
        seeds[rng.below(seeds.len() as u64)].clone()
    } else {
        let mut f = if rng.below(2) == 0 {
            mandatory()
        } else {
            Vec::new()
        };
        for _ in 0..rng.below(12) {
            let kind = [1, 2, 3, 4, 5, 6, 7, 8, 127, 0, 50][rng.below(11)];
            let len = rng.below(40);
            let mut v: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if kind == 127 && len > 3 && rng.below(2) == 0 {
                v[..3].copy_from_slice(&[0x00, 0x80, 0xc2]);
            }
            f.extend(tlv(kind, &v));
        }
        f
    };
    for _ in 0..rng.below(4) {
        if f.is_empty() {
            break;
        }
        let i = rng.below(f.len() as u64);
        match rng.below(3) {
            0 => f[i] = rng.next() as u8,
            1 => f.truncate(i),
            _ => f.insert(i, rng.next() as u8),
        }
    }
    f
}

#[test]
fn fuzz_random_and_mutated_frames_never_panic() {
    let seeds = vec![build(&announce()).unwrap(), mandatory()];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut err) = (0u32, 0u32);
    for _ in 0..100_000 {
        let f = random_frame(&mut rng, &seeds);
        match parse(&f) {
            Ok(pdu) => {
                ok += 1;
                // Whatever parses also reports and serializes.
                let json = serde_json::to_string(&tlvs(&pdu)).unwrap();
                assert!(json.len() < 16 * f.len() + 1024);
            }
            Err(_) => err += 1,
        }
    }
    // Both paths were exercised, not only the error one.
    assert!(ok > 1000 && err > 1000, "ok {ok}, err {err}");
}

/// The `properties` of the TLVs named `name` in the report of `bytes`.
fn props_of(bytes: &[u8], name: &str) -> Vec<serde_json::Value> {
    let report = serde_json::to_value(tlvs(&parse(bytes).unwrap())).unwrap();
    report
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == name)
        .map(|t| t["properties"].clone())
        .collect()
}

#[test]
fn id_subtypes_are_shown_as_lldptool_shows_them() {
    // Chassis: a 6-byte port component is text, not a MAC; port: an IPv4
    // network address.
    let mut f = tlv(1, b"\x03Gi0/17");
    f.extend(tlv(2, &[4, 1, 192, 0, 2, 9]));
    f.extend(tlv(3, &[0, 30]));
    let chassis = &props_of(&f, "Chassis ID")[0];
    assert_eq!(chassis["chassis ID subtype"], "Port Component");
    assert_eq!(chassis["chassis ID"], "Gi0/17");
    let port = &props_of(&f, "Port ID")[0];
    assert_eq!(port["port ID subtype"], "IPv4");
    assert_eq!(port["port ID"], "192.0.2.9");
    // Chassis: locally assigned text; port: agent circuit id, opaque hex.
    let mut f = tlv(1, b"\x07rack4-tor");
    f.extend(tlv(2, &[6, 0xca, 0xfe]));
    f.extend(tlv(3, &[0, 30]));
    assert_eq!(props_of(&f, "Chassis ID")[0]["chassis ID subtype"], "Local");
    assert_eq!(props_of(&f, "Chassis ID")[0]["chassis ID"], "rack4-tor");
    assert_eq!(
        props_of(&f, "Port ID")[0]["port ID subtype"],
        "Agent Circuit ID"
    );
    assert_eq!(props_of(&f, "Port ID")[0]["port ID"], "cafe");
    // Unprintable text is shown as hex rather than mangled.
    let mut f = tlv(1, &[7, 0x01, 0xff]);
    f.extend(tlv(2, b"\x05eth0"));
    f.extend(tlv(3, &[0, 30]));
    assert_eq!(props_of(&f, "Chassis ID")[0]["chassis ID"], "01ff");
}

#[test]
fn management_addresses_ipv6_mac_and_oid() {
    let mut f = mandatory();
    let mut v6 = vec![17, 2];
    v6.extend(
        "2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    v6.extend([3, 0, 0, 0, 12, 3, 0x2b, 0x06, 0x01]);
    f.extend(tlv(8, &v6));
    f.extend(tlv(8, &[7, 6, 2, 0, 0, 0, 0, 9, 1, 0, 0, 0, 0, 0]));
    let m = props_of(&f, "Management Address");
    assert_eq!(m[0]["management address subtype"], "IPv6");
    assert_eq!(m[0]["management address"], "2001:db8::1");
    assert_eq!(m[0]["interface numbering subtype"], "System port number");
    assert_eq!(m[0]["interface numbering"], "12");
    assert_eq!(m[0]["object identifier"], "2b0601");
    assert_eq!(m[1]["management address subtype"], "MAC");
    assert_eq!(m[1]["management address"], "02:00:00:00:00:09");
    assert_eq!(
        m[1]["interface numbering subtype"],
        "Unknown interface subtype"
    );
    assert!(m[1].get("object identifier").is_none());
    // An OID length that disagrees with the TLV length is refused.
    let mut bad = mandatory();
    bad.extend(tlv(8, &[5, 1, 192, 0, 2, 1, 2, 0, 0, 0, 7, 2, 0x2b]));
    assert_eq!(
        parse(&bad),
        Err(ParseError::BadLength {
            tlv_type: 8,
            len: 13
        })
    );
}
