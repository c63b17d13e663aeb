//! Published ports without a firewall (`iptables: false`): a proxy in the daemon forwards each
//! host port to the container, as Docker's `docker-proxy` does. With the firewall on, berth
//! uses kernel NAT on every path and runs no proxy.
//!
//! The proxy serves on the very socket that reserves the host port, so the port is never
//! free between the reservation and the proxy. The container sees the connection come from
//! the host's side of its network (its gateway), as with Docker's proxy.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};

/// A UDP flow with no reply for this long is forgotten (Docker's proxy uses 90 s as well).
const UDP_IDLE: Duration = Duration::from_secs(90);

/// A running proxy; dropping it stops the proxy and every connection it carries.
#[derive(Debug)]
pub struct Proxy(JoinHandle<()>);

impl Drop for Proxy {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Forwards TCP connections accepted on `sock` (bound, not yet listening) to `to`.
pub fn tcp(sock: socket2::Socket, to: SocketAddr) -> std::io::Result<Proxy> {
    sock.listen(1024)?;
    sock.set_nonblocking(true)?;
    let listener = TcpListener::from_std(sock.into())?;
    Ok(Proxy(tokio::spawn(async move {
        // Connections live in this set, so they end with the proxy.
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((mut inbound, _)) => {
                        conns.spawn(async move {
                            match TcpStream::connect(to).await {
                                Ok(mut outbound) => {
                                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                                }
                                Err(e) => tracing::debug!(%to, error = %e, "proxy cannot reach the container"),
                            }
                        });
                    }
                    Err(e) => {
                        // Out of descriptors and the like: wait instead of spinning.
                        tracing::warn!(%to, error = %e, "proxy accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = conns.join_next() => {}
            }
        }
    })))
}

/// Forwards UDP datagrams arriving on `sock` (bound) to `to`, one upstream socket per client,
/// and the replies back to that client.
pub fn udp(sock: socket2::Socket, to: SocketAddr) -> std::io::Result<Proxy> {
    sock.set_nonblocking(true)?;
    let front = Arc::new(UdpSocket::from_std(sock.into())?);
    Ok(Proxy(tokio::spawn(async move {
        let mut flows: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
        // Each flow's reply reader; it returns its client when the flow goes idle.
        let mut readers = JoinSet::new();
        let mut buf = vec![0u8; 65535];
        loop {
            tokio::select! {
                got = front.recv_from(&mut buf) => {
                    let Ok((n, client)) = got else { continue };
                    let back = match flows.get(&client) {
                        Some(b) => b.clone(),
                        None => match upstream(to).await {
                            Ok(b) => {
                                readers.spawn(replies(b.clone(), front.clone(), client));
                                flows.insert(client, b.clone());
                                b
                            }
                            Err(e) => {
                                tracing::debug!(%to, error = %e, "proxy cannot reach the container");
                                continue;
                            }
                        },
                    };
                    let _ = back.send(&buf[..n]).await;
                }
                Some(Ok(client)) = readers.join_next() => {
                    flows.remove(&client);
                }
            }
        }
    })))
}

async fn upstream(to: SocketAddr) -> std::io::Result<Arc<UdpSocket>> {
    let any: SocketAddr = if to.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(any).await?;
    s.connect(to).await?;
    Ok(Arc::new(s))
}

async fn replies(back: Arc<UdpSocket>, front: Arc<UdpSocket>, client: SocketAddr) -> SocketAddr {
    let mut buf = vec![0u8; 65535];
    while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, back.recv(&mut buf)).await {
        let _ = front.send_to(&buf[..n], client).await;
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Protocol, Socket, Type};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn bound(ty: Type, proto: Protocol) -> Socket {
        let s = Socket::new(Domain::IPV4, ty, Some(proto)).unwrap();
        s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        s
    }

    #[tokio::test]
    async fn tcp_is_forwarded_both_ways_and_stops_with_the_proxy() {
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = server.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = server.accept().await {
                tokio::spawn(async move {
                    let mut b = [0u8; 5];
                    s.read_exact(&mut b).await.unwrap();
                    s.write_all(&[b"echo:", &b[..]].concat()).await.unwrap();
                });
            }
        });
        let sock = bound(Type::STREAM, Protocol::TCP);
        let at = sock.local_addr().unwrap().as_socket().unwrap();
        let proxy = tcp(sock, to).unwrap();
        let mut c = TcpStream::connect(at).await.unwrap();
        c.write_all(b"hello").await.unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "echo:hello");
        drop(proxy);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(TcpStream::connect(at).await.is_err(), "the port is closed");
    }

    #[tokio::test]
    async fn udp_flows_get_their_own_replies() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = server.local_addr().unwrap();
        tokio::spawn(async move {
            let mut b = [0u8; 64];
            while let Ok((n, from)) = server.recv_from(&mut b).await {
                let reply = [b"echo:", &b[..n]].concat();
                server.send_to(&reply, from).await.unwrap();
            }
        });
        let sock = bound(Type::DGRAM, Protocol::UDP);
        let at = sock.local_addr().unwrap().as_socket().unwrap();
        let _proxy = udp(sock, to).unwrap();
        for who in ["a", "b"] {
            let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            c.connect(at).await.unwrap();
            c.send(who.as_bytes()).await.unwrap();
            let mut b = [0u8; 64];
            let n = tokio::time::timeout(Duration::from_secs(2), c.recv(&mut b))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&b[..n], format!("echo:{who}").as_bytes());
        }
    }
}
