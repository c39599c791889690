use super::*;

fn all(bytes: &[u8]) -> Result<Vec<Item>, FrameError> {
    let mut d = Decoder::default();
    d.push(bytes);
    let mut out = Vec::new();
    while let Some(item) = d.next_item()? {
        out.push(item);
    }
    Ok(out)
}

fn frame(bytes: &[u8]) -> Frame {
    match all(bytes).unwrap().as_slice() {
        [Item::Frame(f)] => f.clone(),
        other => panic!("not one frame: {other:?}"),
    }
}

#[test]
fn a_connect_frame_as_stomp_py_sends_it() {
    let f = frame(b"CONNECT\naccept-version:1.2\nhost:127.0.0.1\nheart-beat:0,0\n\n\0");
    assert_eq!(f.command, Command::Connect);
    assert_eq!(f.get("accept-version"), Some("1.2"));
    assert_eq!(f.get("heart-beat"), Some("0,0"));
    assert!(f.body.is_empty());
}

#[test]
fn crlf_lines_and_heart_beats_between_frames() {
    let items = all(b"\n\r\nSEND\r\ndestination:/q\r\n\r\nhi\0\n").unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0], Item::HeartBeat);
    assert_eq!(items[1], Item::HeartBeat);
    let Item::Frame(f) = &items[2] else { panic!() };
    assert_eq!(f.get("destination"), Some("/q"));
    assert_eq!(f.body, b"hi");
    assert_eq!(items[3], Item::HeartBeat);
}

#[test]
fn content_length_carries_nuls_and_needs_its_nul() {
    let f = frame(b"SEND\ncontent-length:3\n\na\0b\0");
    assert_eq!(f.body, b"a\0b");
    assert_eq!(
        all(b"SEND\ncontent-length:1\n\nab\0"),
        Err(FrameError::NoNul(1))
    );
    assert!(matches!(
        all(b"SEND\ncontent-length:x\n\n\0"),
        Err(FrameError::BadLength(_))
    ));
}

#[test]
fn headers_are_escaped_except_in_connect() {
    let f = Frame::new(Command::Message)
        .header("a:b", "x\\y\nz\r:")
        .body("{}");
    let bytes = f.encode();
    assert!(bytes.starts_with(b"MESSAGE\na\\cb:x\\\\y\\nz\\r\\c\n"));
    assert_eq!(frame(&bytes).get("a:b"), Some("x\\y\nz\r:"));
    let c = frame(b"CONNECT\nlogin:a\\b:c\n\n\0");
    assert_eq!(c.get("login"), Some("a\\b:c"), "no unescaping in CONNECT");
    assert!(matches!(
        all(b"SEND\nx:\\t\n\n\0"),
        Err(FrameError::BadEscape(_))
    ));
}

#[test]
fn the_first_of_repeated_headers_wins() {
    let f = frame(b"SEND\nfoo:1\nfoo:2\n\n\0");
    assert_eq!(f.get("foo"), Some("1"));
    assert_eq!(f.headers.len(), 2);
}

#[test]
fn bad_frames_get_their_error() {
    assert!(matches!(
        all(b"HELLO\n\n\0"),
        Err(FrameError::UnknownCommand(_))
    ));
    assert!(matches!(
        all(b"send\n\n\0"),
        Err(FrameError::UnknownCommand(_))
    ));
    assert!(matches!(
        all(b"SEND\nnocolon\n\n\0"),
        Err(FrameError::NoColon(_))
    ));
    assert_eq!(all(b"SEND\nx:\xff\n\n\0"), Err(FrameError::NotUtf8));
}

#[test]
fn frames_over_the_bounds_are_refused_without_buffering_them() {
    let bounds = Bounds {
        max_head: 64,
        max_headers: 3,
        max_body: 16,
        ..Bounds::default()
    };
    let run = |bytes: &[u8]| {
        let mut d = Decoder::new(bounds);
        d.push(bytes);
        d.next_item()
    };
    assert_eq!(run(&[b'S'; 100]), Err(FrameError::HeadersTooLong(64)));
    assert_eq!(
        run(b"SEND\na:1\nb:2\nc:3\nd:4\ne:5\n\n\0"),
        Err(FrameError::TooManyHeaders(3))
    );
    assert_eq!(
        run(b"SEND\ncontent-length:17\n\n"),
        Err(FrameError::BodyTooLong(16)),
        "refused from the header, before the body comes"
    );
    let mut long = b"SEND\n\n".to_vec();
    long.extend_from_slice(&[b'x'; 17]);
    assert_eq!(run(&long), Err(FrameError::BodyTooLong(16)));
}

/// A big body with a content-length is received into one buffer of its
/// own, whatever the pieces, and what follows it is the next frame's.
#[test]
fn an_announced_body_in_pieces_then_the_next_frame() {
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut bytes = Frame::new(Command::Message)
        .header("destination", "r")
        .body(body.clone())
        .encode();
    bytes.extend_from_slice(b"\nRECEIPT\nreceipt-id:9\n\n\0");
    for reserve in [false, true] {
        let mut d = Decoder::new(Bounds {
            reserve_announced: reserve,
            ..Bounds::default()
        });
        let mut items = Vec::new();
        for piece in bytes.chunks(7_001) {
            d.push(piece);
            assert!(d.buffered() <= bytes.len());
            while let Some(item) = d.next_item().unwrap() {
                items.push(item);
            }
        }
        assert_eq!(items.len(), 3, "MESSAGE, heart-beat, RECEIPT");
        let Item::Frame(f) = &items[0] else { panic!() };
        assert_eq!(f.body, body);
        assert_eq!(items[1], Item::HeartBeat);
        let Item::Frame(r) = &items[2] else { panic!() };
        assert_eq!(r.get("receipt-id"), Some("9"));
        assert_eq!(d.buffered(), 0);
    }
}

#[test]
fn a_frame_in_single_bytes_is_one_frame() {
    let bytes = Frame::new(Command::Send)
        .header("destination", "jms.topic.vdsm_requests")
        .body(vec![7u8; 1000])
        .encode();
    let mut d = Decoder::default();
    let mut got = Vec::new();
    for b in &bytes {
        d.push(&[*b]);
        while let Some(i) = d.next_item().unwrap() {
            got.push(i);
        }
    }
    assert_eq!(got.len(), 1);
    assert_eq!(d.buffered(), 0);
}

/// A small deterministic generator: the same mutations every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] = rng.next() as u8;
            }
            1 => v.insert(at, b"\n:\\\0\r"[rng.below(5)]),
            2 => v.truncate(at),
            3 => {
                let piece = v[at..].to_vec();
                v.extend_from_slice(&piece[..piece.len().min(50)]);
            }
            _ => v
                .splice(at..at, b"content-length:".iter().copied())
                .for_each(drop),
        }
    }
    v
}

/// 20k mutated frames fed in random pieces: never a panic, never more
/// held than the bounds plus one piece, and every frame that decodes
/// encodes back to bytes that decode to the same frame.
#[test]
fn fuzzed_bytes_never_panic_and_stay_within_bounds() {
    let seeds: [&[u8]; 5] = [
        b"CONNECT\naccept-version:1.2\nheart-beat:1000,1000\n\n\0",
        b"SUBSCRIBE\nid:1\ndestination:jms.topic.vdsm_responses\n\n\0",
        b"SEND\ndestination:jms.topic.vdsm_requests\nreply-to:r\ncontent-length:2\n\n{}\0",
        b"DISCONNECT\nreceipt:7\n\n\0\n\n",
        b"SEND\nx:a\\cb\n\nbody\0",
    ];
    let bounds = Bounds {
        max_head: 256,
        max_headers: 8,
        max_body: 256,
        ..Bounds::default()
    };
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut frames, mut errors) = (0, 0);
    for _ in 0..20_000 {
        let seed = seeds[rng.below(seeds.len())];
        let bytes = mutate(&mut rng, seed);
        let mut d = Decoder::new(bounds);
        let mut rest = &bytes[..];
        'feed: while !rest.is_empty() {
            let n = (1 + rng.below(64)).min(rest.len());
            d.push(&rest[..n]);
            rest = &rest[n..];
            loop {
                assert!(d.buffered() <= bounds.max_head + bounds.max_body + 1 + 64);
                match d.next_item() {
                    Ok(Some(Item::Frame(f))) => {
                        frames += 1;
                        let again = frame(&f.encode());
                        let no_length = |f: &Frame| {
                            let mut h = f.headers.clone();
                            h.retain(|(n, _)| n != "content-length");
                            (f.command, h, f.body.clone())
                        };
                        assert_eq!(no_length(&again), no_length(&f));
                    }
                    Ok(Some(Item::HeartBeat)) => {}
                    Ok(None) => break,
                    Err(_) => {
                        errors += 1;
                        break 'feed;
                    }
                }
            }
        }
    }
    assert!(
        frames > 1000 && errors > 1000,
        "{frames} frames, {errors} errors"
    );
}
