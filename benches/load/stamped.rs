//! The reading side of a fan-out subscriber that knows when each message
//! reached this machine's kernel, not only when the load generator got
//! round to it.
//!
//! Why by hand: the load generator reads 1,000 sockets on one thread at
//! ~25–30 µs of CPU per message (tungstenite, the JSON checks, the
//! histograms), so the last socket of a round is read ~25 ms after the
//! first even when the server wrote all of them at once: the user-space
//! arrival time measures the client. The kernel stamps each received
//! segment (`SO_TIMESTAMPNS`) and hands the stamp to `recvmsg` as a control
//! message; tungstenite reads with `read(2)`, which cannot return it. So
//! after the handshake, `connection_init` and `subscribe` (sent through
//! tungstenite), the subscriber takes the TCP stream back and parses the
//! server's frames itself: RFC 6455 §5.2, server-to-client frames being
//! unmasked; the few it sends (pongs) are masked as §5.3 requires.
//! On loopback a segment is stamped as the server's write delivers it, so
//! the stamp is the server's delivery time.

use std::{io::IoSliceMut, os::fd::AsRawFd};

use anyhow::bail;
use nix::sys::{
    socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt},
    time::TimeSpec,
};
use tokio::{
    io::{AsyncWriteExt, Interest},
    net::TcpStream,
};
use tokio_tungstenite::MaybeTlsStream;

use crate::fanout::Socket;

/// A message as received.
pub struct Frame {
    /// The WebSocket opcode (1 text, 8 close, 9 ping, 10 pong).
    pub opcode: u8,
    pub payload: Vec<u8>,
    /// When its last byte reached the kernel, µs since the epoch
    /// (`CLOCK_REALTIME`, as `SystemTime` and the server's `occurredAt`).
    pub kernel_us: u64,
}

/// A subscriber socket read with kernel receive timestamps.
pub struct Stamped {
    tcp: TcpStream,
    buf: Vec<u8>,
    /// The stamp of the last segment read into `buf`.
    stamp_us: u64,
}

impl Stamped {
    /// Takes `socket`'s TCP stream (nothing may be unread in it: the server
    /// sends nothing between `connection_ack` and the first result) and
    /// asks the kernel for receive timestamps.
    pub fn new(socket: Socket) -> anyhow::Result<Self> {
        let MaybeTlsStream::Plain(tcp) = socket.into_inner() else {
            bail!("the fan-out bench speaks plain TCP only");
        };
        setsockopt(&tcp, sockopt::ReceiveTimestampns, &true)?;
        Ok(Self {
            tcp,
            buf: Vec::with_capacity(4096),
            stamp_us: 0,
        })
    }

    /// The next frame; `None` when the connection ended.
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.take_frame() {
                return Some(frame);
            }
            let mut chunk = [0u8; 4096];
            let read = loop {
                if self.tcp.readable().await.is_err() {
                    return None;
                }
                let fd = self.tcp.as_raw_fd();
                match self
                    .tcp
                    .try_io(Interest::READABLE, || recv_stamped(fd, &mut chunk))
                {
                    Ok(read) => break read,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return None,
                }
            };
            let (n, stamp) = read;
            if n == 0 {
                return None;
            }
            if let Some(stamp) = stamp {
                self.stamp_us = stamp;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends a masked frame (a client must mask, RFC 6455 §5.3; the key
    /// need not be unpredictable for a benchmark).
    pub async fn send(&mut self, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(0x80 | opcode);
        match payload.len() {
            n @ 0..=125 => frame.push(0x80 | n as u8),
            n @ 126..=0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&KEY);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
        self.tcp.write_all(&frame).await
    }

    /// A complete frame from the front of `buf`, if there is one.
    fn take_frame(&mut self) -> Option<Frame> {
        let (opcode, start, len) = parse_header(&self.buf)?;
        let end = start.checked_add(len)?;
        if self.buf.len() < end {
            return None;
        }
        let payload = self.buf[start..end].to_vec();
        self.buf.drain(..end);
        Some(Frame {
            opcode,
            payload,
            kernel_us: self.stamp_us,
        })
    }
}

/// A server frame's opcode, where its payload starts and its length, once
/// the header is complete. Messages are single frames here (the server
/// does not fragment), so FIN is not checked.
fn parse_header(buf: &[u8]) -> Option<(u8, usize, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let opcode = b0 & 0x0f;
    match b1 & 0x7f {
        126 => {
            let len = u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]);
            Some((opcode, 4, usize::from(len)))
        }
        127 => {
            let bytes: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            Some((opcode, 10, usize::try_from(u64::from_be_bytes(bytes)).ok()?))
        }
        n => Some((opcode, 2, usize::from(n))),
    }
}

/// `recvmsg` into `chunk`: the bytes read and the kernel's receive stamp
/// (µs since the epoch) of the data, when it gave one.
fn recv_stamped(fd: i32, chunk: &mut [u8]) -> std::io::Result<(usize, Option<u64>)> {
    let mut control = nix::cmsg_space!(TimeSpec);
    let mut iov = [IoSliceMut::new(chunk)];
    let message = recvmsg::<()>(fd, &mut iov, Some(&mut control), MsgFlags::MSG_DONTWAIT)
        .map_err(std::io::Error::from)?;
    let mut stamp = None;
    for cmsg in message.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmTimestampns(ts) = cmsg {
            let us = ts.tv_sec() * 1_000_000 + ts.tv_nsec() / 1000;
            stamp = u64::try_from(us).ok();
        }
    }
    Ok((message.bytes, stamp))
}
