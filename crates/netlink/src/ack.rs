//! The kernel's acks and errors (`NLMSG_ERROR`, `struct nlmsgerr`), with
//! the extended-ack attributes (`NETLINK_EXT_ACK`) read.

use crate::attr::{self, Attrs};
use crate::{messages, NLMSG_ERROR, NLMSG_HDRLEN};

const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSGERR_ATTR_OFFS: u16 = 2;
const NLMSGERR_ATTR_MISS_TYPE: u16 = 5;

/// One `NLMSG_ERROR` from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The sequence number of the request it answers.
    pub seq: u32,
    /// 0 for success, else a positive errno.
    pub errno: i32,
    /// `NLMSGERR_ATTR_MSG`: the kernel's explanation (or, on success, a
    /// warning).
    pub text: Option<String>,
    /// `NLMSGERR_ATTR_OFFS`: byte offset of the offending attribute in the
    /// request.
    pub offset: Option<u32>,
    /// `NLMSGERR_ATTR_MISS_TYPE`: the attribute type that was missing.
    pub missing: Option<u16>,
}

/// The acks in one datagram (an ack datagram holds one; a multi-part reply
/// could hold several). Anything that is not `NLMSG_ERROR` is skipped. A
/// datagram cut short (its receive slot was smaller) still yields the
/// error code of its last message; only the text is lost.
pub fn parse_acks(buf: &[u8]) -> Vec<Ack> {
    let mut out: Vec<Ack> = messages(buf)
        .filter(|m| m.kind == NLMSG_ERROR && m.payload.len() >= 4)
        .map(|m| parse_error(m.payload, m.flags, m.seq))
        .collect();
    // A cut datagram: the message walk stopped at the cut one; read its
    // header and code from what is there.
    let whole: usize = messages(buf)
        .map(|m| crate::align(NLMSG_HDRLEN + m.payload.len()))
        .sum();
    if let Some(rest) = buf.get(whole..).filter(|r| r.len() >= NLMSG_HDRLEN + 4) {
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        if kind == NLMSG_ERROR {
            let flags = u16::from_ne_bytes([rest[6], rest[7]]);
            out.push(parse_error(
                &rest[NLMSG_HDRLEN..],
                flags,
                attr::u32_at(rest, 8),
            ));
        }
    }
    out
}

/// One `struct nlmsgerr` (the payload after `nlmsghdr`): the error, then
/// the request's header, then (unless capped) the request's payload; then
/// the TLVs.
fn parse_error(body: &[u8], flags: u16, seq: u32) -> Ack {
    let code = attr::u32_at(body, 0) as i32;
    let mut ack = Ack {
        seq,
        errno: code.saturating_neg().max(0),
        text: None,
        offset: None,
        missing: None,
    };
    if flags & NLM_F_ACK_TLVS == 0 {
        return ack;
    }
    let mut at = 4 + NLMSG_HDRLEN;
    if flags & NLM_F_CAPPED == 0 {
        let orig_len = attr::u32_at(body, 4) as usize;
        at = 4 + crate::align(orig_len.max(NLMSG_HDRLEN));
    }
    for (kind, value) in Attrs::new(body.get(at..).unwrap_or_default()) {
        match kind {
            NLMSGERR_ATTR_MSG => {
                let text = value.split(|b| *b == 0).next().unwrap_or_default();
                ack.text = Some(String::from_utf8_lossy(text).into_owned());
            }
            NLMSGERR_ATTR_OFFS if value.len() >= 4 => ack.offset = Some(attr::u32_at(value, 0)),
            NLMSGERR_ATTR_MISS_TYPE if value.len() >= 4 => {
                ack.missing = Some(attr::u32_at(value, 0) as u16)
            }
            _ => {}
        }
    }
    ack
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::push;

    fn ack_bytes(seq: u32, code: i32, flags: u16, tlvs: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&code.to_ne_bytes());
        // The request's header, capped: len 40, RTM_NEWLINK, seq.
        body.extend_from_slice(&40u32.to_ne_bytes());
        body.extend_from_slice(&16u16.to_ne_bytes());
        body.extend_from_slice(&5u16.to_ne_bytes());
        body.extend_from_slice(&seq.to_ne_bytes());
        body.extend_from_slice(&0u32.to_ne_bytes());
        body.extend_from_slice(tlvs);
        let mut m = Vec::new();
        crate::push_message(&mut m, NLMSG_ERROR, flags, seq, &body);
        m
    }

    #[test]
    fn an_ok_ack_and_an_error_with_the_kernels_text_are_read() {
        let ok = ack_bytes(7, 0, NLM_F_CAPPED, &[]);
        assert_eq!(
            parse_acks(&ok),
            vec![Ack {
                seq: 7,
                errno: 0,
                text: None,
                offset: None,
                missing: None
            }]
        );
        let mut tlvs = Vec::new();
        push(
            &mut tlvs,
            NLMSGERR_ATTR_MSG,
            b"Nexthop has invalid gateway\0",
        );
        push(&mut tlvs, NLMSGERR_ATTR_OFFS, &52u32.to_ne_bytes());
        let err = ack_bytes(8, -libc::ENETUNREACH, NLM_F_CAPPED | NLM_F_ACK_TLVS, &tlvs);
        let mut both = ok.clone();
        both.extend_from_slice(&err);
        let acks = parse_acks(&both);
        assert_eq!(acks.len(), 2);
        assert_eq!(acks[1].seq, 8);
        assert_eq!(acks[1].errno, libc::ENETUNREACH);
        assert_eq!(acks[1].text.as_deref(), Some("Nexthop has invalid gateway"));
        assert_eq!(acks[1].offset, Some(52));
    }

    #[test]
    fn a_cut_datagram_still_gives_its_error_code() {
        let mut tlvs = Vec::new();
        push(&mut tlvs, NLMSGERR_ATTR_MSG, b"a long explanation\0");
        push(&mut tlvs, NLMSGERR_ATTR_MISS_TYPE, &3u32.to_ne_bytes());
        let err = ack_bytes(9, -libc::EINVAL, NLM_F_CAPPED | NLM_F_ACK_TLVS, &tlvs);
        let acks = parse_acks(&err[..40]);
        assert_eq!(acks.len(), 1);
        assert_eq!(acks[0].errno, libc::EINVAL);
        assert_eq!(acks[0].text, None);
        assert_eq!(parse_acks(&err)[0].missing, Some(3));
    }
}
