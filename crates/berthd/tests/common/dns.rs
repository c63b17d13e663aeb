//! DNS for tests: a fake upstream server inside a test host's namespace (the daemon must never
//! reach the machine's resolver) and a client that asks from inside a container's namespace.

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Runs `f` on a thread inside the network namespace at `ns`; sockets it opens stay there.
pub fn in_netns<T: Send + 'static>(ns: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = std::fs::File::open(ns).expect("open netns");
    std::thread::spawn(move || {
        // SAFETY: setns on this thread only, with a valid namespace fd.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("netns thread")
}

/// How the fake upstream behaves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Answers `*.test.example` (`big.test.example` with 100 addresses, truncated over UDP)
    /// and NXDOMAIN for the rest.
    Answer,
    /// Reads queries and never replies.
    Silent,
}

pub struct FakeUpstream {
    pub udp_queries: Arc<AtomicUsize>,
    pub tcp_queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The address `www.test.example` has at the fake upstream.
pub const WWW: &str = "192.0.2.10";

fn upstream_reply(req: &Message, udp: bool) -> Message {
    let mut m = Message::response(req.metadata.id, OpCode::Query);
    m.metadata.recursion_desired = req.metadata.recursion_desired;
    m.metadata.recursion_available = true;
    m.add_queries(req.queries.iter().cloned());
    let q = &req.queries[0];
    let name = q.name().to_ascii().to_ascii_lowercase();
    let a = |ip: [u8; 4]| Record::from_rdata(q.name().clone(), 30, RData::A(A(ip.into())));
    if name == "www.test.example." && q.query_type() == RecordType::A {
        m.add_answer(a([192, 0, 2, 10]));
    } else if name == "big.test.example." {
        if udp {
            m.metadata.truncation = true;
        } else {
            for i in 0..100u8 {
                m.add_answer(a([198, 51, 100, i]));
            }
        }
    } else if !name.ends_with("test.example.") {
        m.metadata.response_code = ResponseCode::NXDomain;
    }
    m
}

impl FakeUpstream {
    /// Listens on `addr` (UDP and TCP) inside the host namespace of process `pid`.
    pub fn start(pid: u32, addr: &str, mode: Mode) -> FakeUpstream {
        let addr: SocketAddr = addr.parse().expect("address");
        let (udp, tcp) = in_netns(Path::new(&format!("/proc/{pid}/ns/net")), move || {
            (
                UdpSocket::bind(addr).expect("bind fake upstream udp"),
                TcpListener::bind(addr).expect("bind fake upstream tcp"),
            )
        });
        let me = FakeUpstream {
            udp_queries: Arc::new(AtomicUsize::new(0)),
            tcp_queries: Arc::new(AtomicUsize::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        udp.set_read_timeout(Some(Duration::from_millis(100))).ok();
        let (count, stop) = (me.udp_queries.clone(), me.stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::SeqCst) {
                let Ok((n, peer)) = udp.recv_from(&mut buf) else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                if mode == Mode::Silent {
                    continue;
                }
                if let Ok(req) = Message::from_vec(&buf[..n]) {
                    let reply = upstream_reply(&req, true).to_vec().expect("encode");
                    let _ = udp.send_to(&reply, peer);
                }
            }
        });
        tcp.set_nonblocking(true).ok();
        let (count, stop) = (me.tcp_queries.clone(), me.stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let Ok((mut s, _)) = tcp.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                s.set_nonblocking(false).ok();
                s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let Some(req) = read_tcp(&mut s) else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                if mode == Mode::Silent {
                    continue;
                }
                if let Ok(req) = Message::from_vec(&req) {
                    write_tcp(
                        &mut s,
                        &upstream_reply(&req, false).to_vec().expect("encode"),
                    );
                }
            }
        });
        me
    }

    pub fn queries(&self) -> usize {
        self.udp_queries.load(Ordering::SeqCst) + self.tcp_queries.load(Ordering::SeqCst)
    }
}

fn read_tcp(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).ok()?;
    Some(buf)
}

fn write_tcp(s: &mut TcpStream, msg: &[u8]) {
    let mut out = (msg.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(msg);
    let _ = s.write_all(&out);
}

pub fn query_bytes(name: &str, t: RecordType) -> Vec<u8> {
    let mut m = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).expect("name"), t));
    m.to_vec().expect("encode query")
}

fn rand_id() -> u16 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(7)
        & 0xffff) as u16
}

/// Asks 127.0.0.11:53 from inside the sandbox `ns`, over UDP or TCP. None on timeout.
pub fn ask(ns: &Path, name: &str, t: RecordType, tcp: bool) -> Option<Message> {
    ask_raw(ns, &query_bytes(name, t), tcp, Duration::from_secs(5))
}

pub fn ask_raw(ns: &Path, packet: &[u8], tcp: bool, wait: Duration) -> Option<Message> {
    let packet = packet.to_vec();
    let server: SocketAddr = "127.0.0.11:53".parse().expect("addr");
    in_netns(ns, move || {
        if tcp {
            let mut s = TcpStream::connect_timeout(&server, wait).ok()?;
            s.set_read_timeout(Some(wait)).ok();
            write_tcp(&mut s, &packet);
            Message::from_vec(&read_tcp(&mut s)?).ok()
        } else {
            let s = UdpSocket::bind("0.0.0.0:0").ok()?;
            s.set_read_timeout(Some(wait)).ok();
            s.send_to(&packet, server).ok()?;
            let mut buf = [0u8; 65535];
            let (n, _) = s.recv_from(&mut buf).ok()?;
            Message::from_vec(&buf[..n]).ok()
        }
    })
}

/// The A addresses of an answer, as text.
pub fn addrs(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(a) => Some(a.0.to_string()),
            RData::PTR(p) => Some(p.0.to_ascii()),
            _ => None,
        })
        .collect()
}
