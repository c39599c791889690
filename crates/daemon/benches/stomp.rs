//! getNetworkCapabilities over STOMP on TLS beside the Unix socket, from
//! the same daemon in the same run: what the engine's wire costs on top
//! (target: at most 1.5× the socket).
//!
//! `cargo bench -p netswitch-daemon --bench stomp` (as root; everything in
//! a throwaway namespace; certificates made with the openssl CLI). The
//! host is `benches/caps.rs`'s: 1000 veth pairs with one bridged network
//! each plus 500 unused pairs. `NETSWITCH_BENCH_NETS`,
//! `NETSWITCH_BENCH_EXTRA_VETHS` and `NETSWITCH_BENCH_ROUNDS` change the
//! counts; `NETSWITCH_BENCH_PHASES=steady` (or `changed`) runs one phase
//! only, for a profiler. Both clients keep one connection and ask in
//! turn, so the daemon answers from the same kept caps bytes: the
//! difference is the wire (framing, TLS, the client's decode).
//!
//! The clients do the same work per answer: read every byte of it into
//! one buffer, parse no JSON. The socket's client reads big chunks into a
//! buffer it keeps and looks for the newline that ends the answer (what
//! that wire needs); the STOMP client reads big chunks of TLS records
//! (through a 1 MiB buffer: rustls alone reads 4 KiB at a time), takes the
//! decrypted bytes where rustls keeps them, and its decoder collects the
//! body of announced length into one buffer reserved at once.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netswitch_engine::{Engine, SetupOptions};
use netswitch_stomp::{Command as Cmd, Decoder, Frame, Item};
use netswitch_testkit::pki::{Pki, CLIENT_EXT, SERVER_EXT};
use netswitch_testkit::Netns;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{json, Map};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

fn engine(state: &Path) -> Engine {
    Engine::new(state.join("lib"), state.join("resolv.conf"))
}

/// A CA, a server certificate for 127.0.0.1 and a client's.
fn pki() -> Pki {
    let pki = Pki::new();
    pki.ca("ca", "/CN=ca")
        .issue("server", "ca", "/CN=server", SERVER_EXT, 2)
        .issue("client", "ca", "/CN=client", CLIENT_EXT, 2);
    pki
}

/// A TCP stream read through a big buffer: rustls reads at most 4 KiB
/// per call, so without it a 2 MB answer is ~600 `recv`s.
struct Sock {
    rd: BufReader<TcpStream>,
    wr: TcpStream,
}

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.rd.read(buf)
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.wr.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.wr.flush()
    }
}

/// A STOMP client on TLS with the client certificate, subscribed to the
/// replies.
struct Stomp {
    tls: rustls::StreamOwned<rustls::ClientConnection, Sock>,
    dec: Decoder,
}

impl Stomp {
    fn connect(dir: &Path, tcp: TcpStream) -> Stomp {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(dir.join("ca.pem")).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let chain: Vec<_> = CertificateDer::pem_file_iter(dir.join("client.pem"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(dir.join("client.key")).unwrap();
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let sock = Sock {
            rd: BufReader::with_capacity(1 << 20, tcp.try_clone().unwrap()),
            wr: tcp,
        };
        let bounds = netswitch_stomp::Bounds {
            max_body: 64 << 20,
            reserve_announced: true,
            ..Default::default()
        };
        let mut s = Stomp {
            tls: rustls::StreamOwned::new(conn, sock),
            dec: Decoder::new(bounds),
        };
        s.put(Frame::new(Cmd::Connect).header("accept-version", "1.2"));
        assert_eq!(s.frame().command, Cmd::Connected);
        s.put(
            Frame::new(Cmd::Subscribe)
                .header("id", "r")
                .header("destination", "jms.topic.vdsm_responses")
                .header("receipt", "sub"),
        );
        assert_eq!(s.frame().command, Cmd::Receipt);
        s
    }

    fn put(&mut self, f: Frame) {
        self.tls.write_all(&f.encode()).unwrap();
        self.tls.flush().unwrap();
    }

    /// The next frame: decrypted bytes go from rustls's buffers straight
    /// into the decoder.
    fn frame(&mut self) -> Frame {
        loop {
            if let Some(Item::Frame(f)) = self.dec.next_item().unwrap() {
                return f;
            }
            let mut reader = self.tls.conn.reader();
            match reader.fill_buf() {
                Ok([]) => panic!("closed"),
                Ok(plain) => {
                    let n = plain.len();
                    self.dec.push(plain);
                    reader.consume(n);
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
            let n = self.tls.conn.read_tls(&mut self.tls.sock).unwrap();
            assert!(n > 0, "closed");
            self.tls.conn.process_new_packets().unwrap();
        }
    }
}

/// One answer line off the socket into `buf` (kept between calls, so
/// grown and zeroed once), read in big chunks; its length.
fn read_line(sock: &mut UnixStream, buf: &mut Vec<u8>) -> usize {
    let mut at = 0;
    loop {
        if buf.len() - at < 1 << 20 {
            let more = buf.len().max(1 << 20);
            buf.resize(buf.len() + more, 0);
        }
        let n = sock.read(&mut buf[at..]).unwrap();
        assert!(n > 0, "closed");
        at += n;
        if buf[at - n..at].contains(&b'\n') {
            return at;
        }
    }
}

fn serve_daemon(spec: &str) {
    let p: Vec<&str> = spec.splitn(3, ':').collect();
    let (ns, state, dir) = (p[0], Path::new(p[1]), Path::new(p[2]));
    netswitch_netinfo::enter_netns(ns).expect("enter netns");
    let config = netswitch_daemon::DaemonConfig {
        socket: dir.join("api.sock"),
        engine: engine(state),
    };
    let stomp = netswitch_daemon::StompConfig {
        listen: "127.0.0.1:54321".parse().unwrap(),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        ca: dir.join("ca.pem"),
        mutating: vec![],
        max_connections: 64,
    };
    let listeners = netswitch_daemon::Listeners {
        stomp: Some(stomp),
        http: None,
    };
    netswitch_daemon::serve_listeners(config, Default::default(), listeners).expect("serve");
}

fn host(ns: &Netns, state: &Path, nets: usize, extra: usize) {
    let mut script = String::new();
    for (prefix, n) in [("n", nets), ("x", extra)] {
        for i in 0..n {
            script.push_str(&format!(
                "link add veth_{prefix}{i} type veth peer name veth_{prefix}p{i}\n"
            ));
            script.push_str(&format!(
                "link set veth_{prefix}{i} up\nlink set veth_{prefix}p{i} up\n"
            ));
        }
    }
    ns.ip_batch(&script);
    let mut networks = Map::new();
    for i in 0..nets {
        networks.insert(
            format!("net{i}"),
            json!({"nic": format!("veth_n{i}"), "ipaddr": format!("10.{}.{}.1", i / 256, i % 256), "prefix": 24}),
        );
    }
    let request = json!({"networks": networks}).to_string();
    ns.run(|| {
        engine(state)
            .setup(request.as_bytes(), &SetupOptions::default())
            .expect("setup of the networks")
    });
}

fn main() {
    if let Ok(spec) = std::env::var("NETSWITCH_BENCH_STOMP_DAEMON") {
        return serve_daemon(&spec);
    }
    let nets = env_or("NETSWITCH_BENCH_NETS", 1000);
    let extra = env_or("NETSWITCH_BENCH_EXTRA_VETHS", 500);
    let rounds = env_or("NETSWITCH_BENCH_ROUNDS", 30).max(1);
    let phases = std::env::var("NETSWITCH_BENCH_PHASES").unwrap_or_default();
    let ns = Netns::new();
    let state = tempfile::tempdir().unwrap();
    let dir = pki();
    std::fs::write(state.path().join("resolv.conf"), "nameserver 10.9.9.9\n").unwrap();
    host(&ns, state.path(), nets, extra);

    let spec = format!(
        "{}:{}:{}",
        ns.name(),
        state.path().display(),
        dir.dir().display()
    );
    let mut child: Child = Command::new(std::env::current_exe().unwrap())
        .env("NETSWITCH_BENCH_STOMP_DAEMON", spec)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let socket = dir.dir().join("api.sock");
    let started = Instant::now();
    let unix = loop {
        if let Ok(s) = UnixStream::connect(&socket) {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let tcp = ns.run(|| TcpStream::connect("127.0.0.1:54321").unwrap());
    tcp.set_nodelay(true).unwrap();
    let mut stomp = Stomp::connect(dir.dir(), tcp);
    let mut reader = unix.try_clone().unwrap();
    let mut writer = unix;
    let mut line: Vec<u8> = Vec::new();
    let mut round = 0;
    let mut on_socket = || {
        round += 1;
        let t = Instant::now();
        writeln!(
            writer,
            r#"{{"jsonrpc":"2.0","id":{round},"method":"Host.getNetworkCapabilities"}}"#
        )
        .unwrap();
        let len = read_line(&mut reader, &mut line);
        (t.elapsed(), len)
    };
    let mut on_stomp = || {
        let t = Instant::now();
        stomp.put(
            Frame::new(Cmd::Send)
                .header("destination", "jms.topic.vdsm_requests")
                .body(r#"{"jsonrpc":"2.0","id":1,"method":"Host.getNetworkCapabilities"}"#),
        );
        let answer = stomp.frame();
        assert_eq!(answer.command, Cmd::Message);
        (t.elapsed(), answer.body.len())
    };
    // One warm-up call each; then the two in turn, steady (the kept
    // answer), then each call right after an MTU flip (a rebuild).
    let (_, socket_bytes) = on_socket();
    let (_, stomp_bytes) = on_stomp();
    let mut steady = (Vec::new(), Vec::new());
    let mut changed = (Vec::new(), Vec::new());
    let mut flips = 0;
    let flip_mtu = |flips: &mut usize| {
        *flips += 1;
        let mtu = if *flips % 2 == 1 { "1400" } else { "1500" };
        ns.ip(&["link", "set", "dev", "veth_np0", "mtu", mtu]);
    };
    for i in 0..rounds * 2 {
        let flip = i >= rounds;
        if (flip && phases == "steady") || (!flip && phases == "changed") {
            continue;
        }
        if flip {
            flip_mtu(&mut flips);
        }
        let s = on_socket().0;
        if flip {
            flip_mtu(&mut flips);
        }
        let t = on_stomp().0;
        let into = if flip { &mut changed } else { &mut steady };
        into.0.push(s);
        into.1.push(t);
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    println!("Host.getNetworkCapabilities, {nets} networks, median of {rounds} each:");
    println!("  ({socket_bytes} bytes on the socket, {stomp_bytes} bytes of MESSAGE body)");
    for (what, (s, t)) in [
        ("steady (kept answer)", steady),
        ("after a change", changed),
    ] {
        if s.is_empty() {
            continue;
        }
        let (s, t) = (median_ms(s), median_ms(t));
        println!(
            "  {what:22} Unix socket {s:7.2} ms   STOMP/TLS {t:7.2} ms   ratio {:.2}x (target <= 1.5x)",
            t / s
        );
    }
}
