//! How long a snapshot of a host with 4000 links takes, beside the time
//! `ip` needs to print the same state (`ip -j link`, `ip -j addr`,
//! `ip -j route show table all`): the kernel's own cost plus one process
//! per call, the baseline netswitch should not fall behind.
//!
//! The target line is "snapshot() + caps report + JSON, timed together":
//! what an in-process `netswitch caps --json` costs, to be under 50 ms
//! (issue 2). The kernel floor (the same dumps received and thrown away)
//! says how much of it is the kernel's.
//!
//! `cargo bench -p netswitch-netinfo --bench snapshot` (run as root; it
//! works in a throwaway namespace and deletes it). With
//! `RUST_LOG=netswitch_netinfo=debug` each dump logs its count and time.

use std::process::Command;
use std::time::{Duration, Instant};

use netswitch_testkit::Netns;

const PAIRS: usize = 2000;
const ROUNDS: usize = 15;
/// Every how many pairs one end gets an IPv4 address.
const ADDR_EVERY: usize = 4;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One in-process `netswitch caps --json`: snapshot, caps report, JSON
/// text, timed as one (the text is dropped after the clock stops).
fn snapshot_and_caps() -> Duration {
    let t = Instant::now();
    let s = netswitch_netinfo::snapshot().expect("snapshot");
    let caps = netswitch_switch::report::caps(
        &s,
        &netswitch_model::Config::default(),
        &netswitch_model::NicPolicy::default(),
        &netswitch_switch::report::ReportContext::default(),
    );
    let bytes = serde_json::to_vec(&caps).expect("caps serialize");
    let took = t.elapsed();
    std::hint::black_box(bytes);
    took
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() {
    // RUST_LOG=netswitch_netinfo=debug shows each dump's count and time.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let ns = Netns::new();
    let mut script = String::new();
    for i in 0..PAIRS {
        script.push_str(&format!(
            "link add veth_{i}a type veth peer name veth_{i}b\n"
        ));
    }
    for i in 0..PAIRS {
        script.push_str(&format!("link set veth_{i}a up\nlink set veth_{i}b up\n"));
        if i % ADDR_EVERY == 0 {
            script.push_str(&format!(
                "addr add 10.{}.{}.1/24 dev veth_{i}a\n",
                i / 256,
                i % 256
            ));
        }
    }
    let built = Instant::now();
    ns.ip_batch(&script);
    eprintln!(
        "built {} links in {} ms; letting IPv6 autoconf settle",
        PAIRS * 2,
        ms(built.elapsed())
    );
    settle(&ns);

    // SNAPSHOT_PROFILE=N: only the target, N times, for `perf record`.
    if let Some(n) = std::env::var("SNAPSHOT_PROFILE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let times = ns.run(|| (0..n).map(|_| snapshot_and_caps()).collect::<Vec<_>>());
        println!(
            "snapshot() + caps report + JSON: median of {n} {} ms",
            ms(median(times))
        );
        return;
    }

    // snapshot() as the CLI and the engine call it (blocking, its own
    // sockets each time, dump bytes parsed in place).
    let (fresh, together, state) = ns.run(|| {
        let mut fresh = Vec::new();
        let mut state = None;
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let s = netswitch_netinfo::snapshot().expect("snapshot");
            fresh.push(t.elapsed());
            state = Some(s);
        }
        // The whole of an in-process `netswitch caps --json`, timed as one.
        let together: Vec<Duration> = (0..ROUNDS).map(|_| snapshot_and_caps()).collect();
        (fresh, together, state.expect("rounds > 0"))
    });

    // The kernel's own cost: the same dumps, received and thrown away.
    let (raw, raw_msgs) = ns.run(|| {
        let mut times = Vec::new();
        let mut msgs = 0;
        for _ in 0..ROUNDS {
            let t = Instant::now();
            msgs = raw_dumps();
            times.push(t.elapsed());
        }
        (times, msgs)
    });

    let mut ip = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for args in [
            &["-j", "link"][..],
            &["-j", "addr"][..],
            &["-j", "route", "show", "table", "all"][..],
        ] {
            let out = Command::new("ip")
                .arg("-n")
                .arg(ns.name())
                .args(args)
                .output()
                .expect("ip");
            assert!(out.status.success(), "ip {args:?} failed");
        }
        ip.push(t.elapsed());
    }

    // The caps report built from the snapshot, as `netswitch caps --json`
    // does it (report, then JSON text).
    let mut report = Vec::new();
    let mut json_bytes = 0;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let caps = netswitch_switch::report::caps(
            &state,
            &netswitch_model::Config::default(),
            &netswitch_model::NicPolicy::default(),
            &netswitch_switch::report::ReportContext::default(),
        );
        json_bytes = serde_json::to_vec(&caps).expect("caps serialize").len();
        report.push(t.elapsed());
    }
    let report_ms = median(report.clone());

    println!(
        "host: {} links, {} addresses, {} routes, {} rules; median of {ROUNDS}",
        state.links.len(),
        state.addrs.len(),
        state.routes.len(),
        state.rules.len()
    );
    println!("{:<52} {:>10}", "what", "ms");
    println!(
        "{:<52} {:>10}",
        "netinfo::snapshot() (blocking, bytes read in place)",
        ms(median(fresh))
    );
    println!(
        "{:<52} {:>10}",
        format!("caps report + JSON ({json_bytes} bytes) from a snapshot"),
        ms(report_ms)
    );
    println!(
        "{:<52} {:>10}",
        "snapshot() + caps report + JSON, timed together (< 50)",
        ms(median(together))
    );
    println!(
        "{:<52} {:>10}",
        "ip -j link + ip -j addr + ip -j route show table all",
        ms(median(ip))
    );
    println!(
        "{:<52} {:>10}",
        format!("kernel floor: the same dumps unparsed ({raw_msgs} msgs)"),
        ms(median(raw))
    );
}

/// Waits until IPv6 autoconfiguration on the new links has finished: the
/// address and route counts hold still for a second (at most 30 s), so the
/// timed rounds all read the same host.
fn settle(ns: &Netns) {
    let started = Instant::now();
    let counts = || {
        ns.run(|| {
            let s = netswitch_netinfo::snapshot().expect("snapshot");
            (s.addrs.len(), s.routes.len())
        })
    };
    let mut last = counts();
    let mut still_since = Instant::now();
    while still_since.elapsed() < Duration::from_secs(1)
        && started.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(250));
        let now = counts();
        if now != last {
            last = now;
            still_since = Instant::now();
        }
    }
    eprintln!(
        "settled after {} ms: {} addresses, {} routes",
        ms(started.elapsed()),
        last.0,
        last.1
    );
}

/// The six dumps a snapshot asks for (links without stats, addresses,
/// IPv4 and IPv6 routes and rules), each received to its end and not
/// parsed: what the kernel costs before netswitch reads a byte. Returns
/// the number of messages.
fn raw_dumps() -> usize {
    use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
    const RTM_GETLINK: u16 = 18;
    const RTM_GETADDR: u16 = 22;
    const RTM_GETROUTE: u16 = 26;
    const RTM_GETRULE: u16 = 34;
    const REQUEST_DUMP: u16 = 0x301;
    const IFLA_EXT_MASK: u16 = 29;
    const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;
    let mut socket = Socket::new(NETLINK_ROUTE).expect("netlink socket");
    socket.bind_auto().expect("bind");
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0;
    // (message type, family, header length, ask to skip stats)
    let dumps = [
        (RTM_GETLINK, 0u8, 16usize, true),
        (RTM_GETADDR, 0, 8, false),
        (RTM_GETROUTE, 2, 12, false),
        (RTM_GETROUTE, 10, 12, false),
        (RTM_GETRULE, 2, 12, false),
        (RTM_GETRULE, 10, 12, false),
    ];
    for (seq, (kind, family, header, skip_stats)) in dumps.into_iter().enumerate() {
        let len = 16 + header + if skip_stats { 8 } else { 0 };
        let mut msg = Vec::with_capacity(len);
        msg.extend((len as u32).to_ne_bytes());
        msg.extend(kind.to_ne_bytes());
        msg.extend(REQUEST_DUMP.to_ne_bytes());
        msg.extend((seq as u32 + 1).to_ne_bytes());
        msg.extend(0u32.to_ne_bytes());
        msg.push(family);
        msg.extend(std::iter::repeat_n(0u8, header - 1));
        if skip_stats {
            msg.extend(8u16.to_ne_bytes());
            msg.extend(IFLA_EXT_MASK.to_ne_bytes());
            msg.extend(RTEXT_FILTER_SKIP_STATS.to_ne_bytes());
        }
        socket.send(&msg, 0).expect("send");
        'dump: loop {
            let mut b = &mut buf[..];
            let n = socket.recv(&mut b, 0).expect("recv");
            let mut off = 0;
            while off + 16 <= n {
                let l = u32::from_ne_bytes(buf[off..off + 4].try_into().expect("4 bytes")) as usize;
                let t = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().expect("2 bytes"));
                if t == 3 || t == 2 {
                    break 'dump; // NLMSG_DONE or NLMSG_ERROR
                }
                total += 1;
                off += (l + 3) & !3;
            }
        }
    }
    total
}
