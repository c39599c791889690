//! Parsing LLDPDUs at the rate of a busy host: 1000 frames a second (a few
//! hundred nics, or a flood). Prints the CPU time per frame of what the
//! receiver does with a frame (parse, store in the neighbor table) and of
//! building the report, beside a reference measured in the same run: a
//! plain copy of the same bytes, what any receiver pays at least.
//!
//! `cargo bench -p netswitch-lldp --bench parse` (or `--profile dev`; the
//! output says which profile it ran under).

use netswitch_lldp::{parse, tlvs, Neighbors};
use std::hint::black_box;
use std::time::{Duration, Instant};

const FRAMES: u32 = 200_000;

/// One TLV's bytes.
fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![(kind << 1) | (value.len() >> 8) as u8, value.len() as u8];
    v.extend_from_slice(value);
    v
}

/// A switch's typical LLDPDU (~350 bytes): what lldpd or a ToR sends.
fn frame() -> Vec<u8> {
    let mut f = tlv(1, &[4, 0x52, 0x54, 0, 1, 2, 3]);
    f.extend(tlv(2, b"\x05Ethernet1/17"));
    f.extend(tlv(3, &[0, 120]));
    f.extend(tlv(4, b"host-17 nic 2 (storage uplink)"));
    f.extend(tlv(5, b"tor-a17.rack4.example.net"));
    f.extend(tlv(6, "Switch OS 9.1.3, build 2026-10-01, running on hardware model X-48Q with 48 ports of 25G and 8 of 100G; serial ABC123456".as_bytes()));
    f.extend(tlv(7, &[0, 0x14, 0, 0x14]));
    f.extend(tlv(8, &[5, 1, 192, 0, 2, 17, 2, 0, 0, 0, 17, 0]));
    f.extend(tlv(127, &[0x00, 0x80, 0xc2, 1, 0, 10]));
    for (vid, name) in [
        (10u16, "mgmt"),
        (100, "storage"),
        (200, "vm-net-a"),
        (201, "vm-net-b"),
    ] {
        let mut v = vec![0x00, 0x80, 0xc2, 3];
        v.extend(vid.to_be_bytes());
        v.push(name.len() as u8);
        v.extend(name.as_bytes());
        f.extend(tlv(127, &v));
    }
    f.extend(tlv(127, &[0x00, 0x80, 0xc2, 7, 3, 0, 0, 0, 9]));
    f.extend(tlv(127, &[0x00, 0x12, 0x0f, 4, 0x23, 0x28]));
    f.extend(tlv(0, &[]));
    f
}

/// CPU time of this thread (not wall time: the machine is shared).
fn cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn per_frame(mut f: impl FnMut(u32)) -> Duration {
    for i in 0..FRAMES / 10 {
        f(i); // warm up
    }
    let start = cpu_now();
    for i in 0..FRAMES {
        f(i);
    }
    (cpu_now() - start) / FRAMES
}

fn main() {
    let bytes = frame();
    let mut buf = vec![0u8; 9216];
    let copy = per_frame(|_| {
        buf[..bytes.len()].copy_from_slice(black_box(&bytes));
        black_box(&buf);
    });
    let table = Neighbors::new();
    let devices: Vec<String> = (0..256).map(|i| format!("eth{i}")).collect();
    let receive = per_frame(|i| {
        buf[..bytes.len()].copy_from_slice(black_box(&bytes));
        let pdu = parse(&buf[..bytes.len()]).expect("the bench frame parses");
        black_box(table.update(&devices[(i % 256) as usize], pdu, Instant::now()));
    });
    let pdu = parse(&bytes).expect("the bench frame parses");
    let report = per_frame(|_| {
        black_box(serde_json::to_string(&tlvs(black_box(&pdu))).expect("serializes"));
    });
    let profile = if cfg!(debug_assertions) {
        "dev (unoptimized)"
    } else {
        "optimized"
    };
    println!(
        "LLDPDU of {} bytes, {FRAMES} frames each, {profile} build, thread CPU time",
        bytes.len()
    );
    println!(
        "  reference: copy the frame          {:>8.2} us/frame",
        us(copy)
    );
    println!(
        "  receive: copy + parse + table      {:>8.2} us/frame",
        us(receive)
    );
    println!(
        "  report: TLVs to JSON (one device)  {:>8.2} us/frame",
        us(report)
    );
    println!(
        "  at 1000 LLDPDUs/s the receiver costs {:.3}% of one core ({:.1}x the copy)",
        us(receive) * 1000.0 / 1e6 * 100.0,
        receive.as_secs_f64() / copy.as_secs_f64().max(1e-12)
    );
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
