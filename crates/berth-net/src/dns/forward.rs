//! Forwarding queries the records cannot answer to upstream servers, from the daemon's own
//! namespace: UDP first, TCP when the UDP reply is truncated (or the client came over TCP).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

/// How long one upstream gets before the next is tried.
pub const PER_SERVER: Duration = Duration::from_millis(1500);
/// At most this many servers are tried for one query, so the client hears back in time.
const MAX_SERVERS: usize = 3;

/// The reply of the first upstream that answers `packet`, or None.
pub async fn forward(servers: &[SocketAddr], packet: &[u8], over_tcp: bool) -> Option<Vec<u8>> {
    for server in servers.iter().take(MAX_SERVERS) {
        let reply = if over_tcp {
            timeout(PER_SERVER, tcp(*server, packet)).await
        } else {
            timeout(PER_SERVER, udp_then_tcp(*server, packet)).await
        };
        match reply {
            Ok(Ok(r)) => return Some(r),
            Ok(Err(e)) => tracing::debug!(%server, error = %e, "upstream DNS failed"),
            Err(_) => tracing::debug!(%server, "upstream DNS timed out"),
        }
    }
    None
}

fn same_id(packet: &[u8], reply: &[u8]) -> bool {
    packet.len() >= 2 && reply.len() >= 12 && packet[..2] == reply[..2]
}

/// TC is bit 1 of the third header byte.
fn truncated(reply: &[u8]) -> bool {
    reply.len() > 2 && reply[2] & 0x02 != 0
}

async fn udp_then_tcp(server: SocketAddr, packet: &[u8]) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local).await?;
    sock.connect(server).await?;
    sock.send(packet).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = sock.recv(&mut buf).await?;
        // A stray datagram with another ID is not the answer; keep waiting for ours.
        if !same_id(packet, &buf[..n]) {
            continue;
        }
        if truncated(&buf[..n]) {
            return tcp(server, packet).await;
        }
        buf.truncate(n);
        return Ok(buf);
    }
}

/// One query over TCP, with the two-byte length prefix of RFC 1035 4.2.2.
pub async fn tcp(server: SocketAddr, packet: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(server).await?;
    write_frame(&mut s, packet).await?;
    let reply = read_frame(&mut s).await?;
    if !same_id(packet, &reply) {
        return Err(std::io::Error::other("upstream reply with another ID"));
    }
    Ok(reply)
}

/// Reads one length-prefixed DNS message from a TCP stream.
pub async fn read_frame<R: AsyncReadExt + Unpin>(r: &mut R) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    r.read_exact(&mut len).await?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    r.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Writes one length-prefixed DNS message.
pub async fn write_frame<W: AsyncWriteExt + Unpin>(w: &mut W, msg: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(msg.len()).map_err(std::io::Error::other)?;
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    w.write_all(&out).await
}
