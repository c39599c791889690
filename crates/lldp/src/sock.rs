//! The AF_PACKET socket: the only unsafe code of the crate, each call a
//! thin wrapper over one libc call.
//!
//! The socket is `SOCK_DGRAM` (the kernel strips the Ethernet header and
//! tells us the ifindex and packet type) bound to `ETH_P_ALL` with a
//! classic BPF filter keeping ethertype 0x88cc only. `ETH_P_ALL` rather
//! than `ETH_P_LLDP` because a port of an Open vSwitch bridge hands its
//! frames to OVS before protocol handlers see them; only the "all" taps
//! still do. The filter is attached before the socket is bound to a
//! protocol, so no other traffic is ever queued to us.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// LLDP's ethertype.
pub const ETHERTYPE_LLDP: u16 = 0x88cc;
/// The nearest-bridge LLDP group address.
pub const LLDP_MULTICAST: [u8; 6] = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e];

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live T and its size is passed with it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    cvt(r).map(drop)
}

fn sockaddr(ifindex: i32, protocol: u16) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
    let mut sa: libc::sockaddr_ll = unsafe { zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = protocol.to_be();
    sa.sll_ifindex = ifindex;
    sa
}

/// Opens the LLDP socket in the calling thread's network namespace.
pub fn open(recv_timeout: std::time::Duration) -> io::Result<OwnedFd> {
    // Protocol 0: receives nothing until bound below.
    // SAFETY: plain syscall; the fd is owned right away.
    let fd = unsafe {
        OwnedFd::from_raw_fd(cvt(libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            0,
        ))?)
    };
    attach_filter(fd.as_raw_fd())?;
    let tv = libc::timeval {
        tv_sec: recv_timeout.as_secs() as libc::time_t,
        tv_usec: recv_timeout.subsec_micros() as libc::suseconds_t,
    };
    setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
    let sa = sockaddr(0, libc::ETH_P_ALL as u16);
    // SAFETY: `sa` is a valid sockaddr_ll of the size given.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

/// `ld proto; jeq 0x88cc ? accept : drop`.
fn attach_filter(fd: RawFd) -> io::Result<()> {
    const SKF_AD_PROTOCOL: u32 = 0;
    let op = |code: u32, jt, jf, k| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let prog = [
        op(
            libc::BPF_LD | libc::BPF_H | libc::BPF_ABS,
            0,
            0,
            (libc::SKF_AD_OFF as u32).wrapping_add(SKF_AD_PROTOCOL),
        ),
        op(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            0,
            1,
            u32::from(ETHERTYPE_LLDP),
        ),
        op(libc::BPF_RET | libc::BPF_K, 0, 0, 0xffff),
        op(libc::BPF_RET | libc::BPF_K, 0, 0, 0),
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
}

/// Joins the LLDP group address on one interface, so a nic with a
/// multicast filter delivers the frames. Left when the socket closes.
pub fn join(fd: &OwnedFd, ifindex: u32) -> io::Result<()> {
    // SAFETY: packet_mreq is plain old data; all-zero is valid.
    let mut mreq: libc::packet_mreq = unsafe { zeroed() };
    mreq.mr_ifindex = ifindex as i32;
    mreq.mr_type = libc::PACKET_MR_MULTICAST as u16;
    mreq.mr_alen = 6;
    mreq.mr_address[..6].copy_from_slice(&LLDP_MULTICAST);
    setsockopt(
        fd.as_raw_fd(),
        libc::SOL_PACKET,
        libc::PACKET_ADD_MEMBERSHIP,
        &mreq,
    )
}

/// One received frame's metadata.
pub struct Received {
    /// Payload length (may exceed the buffer: then it was cut).
    pub len: usize,
    /// Interface it came in on.
    pub ifindex: u32,
    /// `PACKET_OUTGOING` for our own transmissions.
    pub pkttype: u8,
}

/// Receives one frame into `buf`; `WouldBlock`/`TimedOut` on timeout.
pub fn recv(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<Received> {
    let mut sa = sockaddr(0, 0);
    let mut sa_len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: buf and sa are valid for the lengths passed; MSG_TRUNC makes
    // the kernel report the full length but still writes at most buf.len().
    let n = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_TRUNC,
            (&mut sa as *mut libc::sockaddr_ll).cast(),
            &mut sa_len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Received {
        len: n as usize,
        ifindex: sa.sll_ifindex as u32,
        pkttype: sa.sll_pkttype,
    })
}

/// Sends one LLDPDU to the LLDP group address out of `ifindex`.
pub fn send(fd: &OwnedFd, ifindex: u32, pdu: &[u8]) -> io::Result<()> {
    let mut sa = sockaddr(ifindex as i32, ETHERTYPE_LLDP);
    sa.sll_halen = 6;
    sa.sll_addr[..6].copy_from_slice(&LLDP_MULTICAST);
    // SAFETY: pdu and sa are valid for the lengths passed.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            pdu.as_ptr().cast(),
            pdu.len(),
            0,
            (&sa as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Interfaces of the calling thread's namespace: (ifindex, name).
pub fn interfaces() -> io::Result<Vec<(u32, String)>> {
    // SAFETY: if_nameindex returns a list ended by a zero entry, freed
    // below with if_freenameindex; names are NUL-terminated C strings.
    unsafe {
        let list = libc::if_nameindex();
        if list.is_null() {
            return Err(io::Error::last_os_error());
        }
        let mut out = Vec::new();
        let mut p = list;
        while (*p).if_index != 0 && !(*p).if_name.is_null() {
            let name = std::ffi::CStr::from_ptr((*p).if_name)
                .to_string_lossy()
                .into_owned();
            out.push(((*p).if_index, name));
            p = p.add(1);
        }
        libc::if_freenameindex(list);
        Ok(out)
    }
}

/// The ifindex of `name` in the calling thread's namespace.
pub fn ifindex(name: &str) -> io::Result<u32> {
    let c =
        std::ffi::CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        i => Ok(i),
    }
}
