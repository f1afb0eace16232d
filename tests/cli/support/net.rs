//! What stands between wxtoken and WeChat, on 127.0.0.1: a throwaway CA, a
//! TLS front that serves a stand-in over https with a certificate of that CA,
//! and a CONNECT proxy that tunnels, refuses or hangs up.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate authority made for one test.
pub struct Ca {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A server certificate and its key, DER.
pub struct ServerCert {
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn issue(&self, names: &[&str]) -> ServerCert {
        self.issue_with(names, |_| {})
    }

    /// One that expired in 2020.
    pub fn issue_expired(&self, names: &[&str]) -> ServerCert {
        self.issue_with(names, |p| {
            p.not_before = date_time_ymd(2019, 1, 1);
            p.not_after = date_time_ymd(2020, 1, 1);
        })
    }

    fn issue_with(&self, names: &[&str], edit: impl FnOnce(&mut CertificateParams)) -> ServerCert {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "stand-in");
        params.use_authority_key_identifier_extension = true;
        edit(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        ServerCert {
            chain: vec![cert.der().clone()],
            key: key.serialize_der(),
        }
    }

    /// Writes the CA certificate (PEM) to `path`.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, &self.pem).unwrap();
    }
}

/// A port on 127.0.0.1 where nothing listens, held for as long as the socket
/// lives: bound but not listening, so a connection is refused, and no other
/// test can take the port meanwhile (a port freed by dropping a listener can be
/// bound again by a stand-in of a test running alongside).
pub struct Refusing {
    _socket: socket2::Socket,
    pub addr: SocketAddr,
}

impl Refusing {
    pub fn new() -> Refusing {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("a socket");
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        socket.bind(&any.into()).expect("bind 127.0.0.1:0");
        let addr = socket
            .local_addr()
            .unwrap()
            .as_socket()
            .expect("an IPv4 address");
        Refusing {
            _socket: socket,
            addr,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Serves `backend` (a plain-HTTP stand-in) over TLS with a given certificate.
/// Counts the connections it accepted: one per try.
pub struct TlsFront {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl TlsFront {
    pub fn start(cert: &ServerCert, backend: SocketAddr) -> TlsFront {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(cert.chain.clone(), key)
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                let config = config.clone();
                std::thread::spawn(move || {
                    let _ = relay_tls(stream, config, backend);
                });
            }
        });
        TlsFront { addr, connections }
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// One request over TLS, passed to the backend; its answer (it closes after
/// each one) passed back.
fn relay_tls(
    tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
    backend: SocketAddr,
) -> std::io::Result<()> {
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let request = read_head_and_body(&mut tls)?;
    let mut up = TcpStream::connect(backend)?;
    up.write_all(&request)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    tls.write_all(&answer)?;
    tls.conn.send_close_notify();
    tls.flush()
}

/// An HTTP request's bytes: the head, and a Content-Length body.
fn read_head_and_body(stream: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut reader = BufReader::new(stream);
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
        head.extend_from_slice(line.as_bytes());
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    head.extend_from_slice(&body);
    Ok(head)
}

/// What the proxy does with a CONNECT.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    /// 200, then relays bytes both ways.
    Tunnel,
    /// Answers with this status and closes.
    Status(u16),
    /// Closes without answering.
    Close,
}

/// A CONNECT proxy on 127.0.0.1 that records what it was asked.
pub struct ConnectProxy {
    addr: SocketAddr,
    /// The CONNECT request heads, one per tunnel asked for.
    asked: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    pub fn start(behaviour: Behaviour) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let _ = serve_connect(stream, behaviour, &log);
                });
            }
        });
        ConnectProxy { addr, asked }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CONNECT request heads it received.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

fn serve_connect(
    mut client: TcpStream,
    behaviour: Behaviour,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let head = read_head_and_body(&mut client.try_clone()?)?;
    let head = String::from_utf8_lossy(&head).into_owned();
    log.lock().unwrap().push(head.clone());
    let target = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    match behaviour {
        Behaviour::Close => client.shutdown(Shutdown::Both),
        Behaviour::Status(code) => {
            write!(
                client,
                "HTTP/1.1 {code} Refused\r\nProxy-Authenticate: Basic realm=\"corp\"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )?;
            client.flush()
        }
        Behaviour::Tunnel => {
            // It plays the far host: whatever host it is asked for, it
            // connects to that port of this machine.
            let port = target.rsplit(':').next().unwrap_or_default();
            let up = TcpStream::connect(format!("127.0.0.1:{port}"))?;
            client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
            relay(client, up)
        }
    }
}

/// Copies bytes both ways until both sides are done.
fn relay(client: TcpStream, up: TcpStream) -> std::io::Result<()> {
    client.set_read_timeout(None)?;
    let (mut c2, mut u2) = (client.try_clone()?, up.try_clone()?);
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut u2, &mut c2);
        let _ = c2.shutdown(Shutdown::Write);
    });
    let (mut c1, mut u1) = (client, up);
    let _ = std::io::copy(&mut c1, &mut u1);
    let _ = u1.shutdown(Shutdown::Write);
    let _ = back.join();
    Ok(())
}

/// A SOCKS5 proxy without authentication that connects to IPv4 targets,
/// counting the tunnels it opened.
pub struct Socks5 {
    addr: SocketAddr,
    tunnels: Arc<AtomicUsize>,
}

impl Socks5 {
    pub fn start() -> Socks5 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let tunnels = Arc::new(AtomicUsize::new(0));
        let count = tunnels.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let count = count.clone();
                std::thread::spawn(move || {
                    let _ = serve_socks5(stream, &count);
                });
            }
        });
        Socks5 { addr, tunnels }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn tunnels(&self) -> usize {
        self.tunnels.load(Ordering::SeqCst)
    }
}

fn serve_socks5(mut client: TcpStream, tunnels: &AtomicUsize) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut greeting = [0u8; 2];
    client.read_exact(&mut greeting)?;
    let mut methods = vec![0u8; usize::from(greeting[1])];
    client.read_exact(&mut methods)?;
    client.write_all(&[5, 0])?;
    // VER CMD RSV ATYP=1 (IPv4) ADDR PORT
    let mut request = [0u8; 10];
    client.read_exact(&mut request)?;
    if request[..4] != [5, 1, 0, 1] {
        return client.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]);
    }
    // It plays the far host: whatever address it is asked for, it connects
    // to that port of this machine.
    let port = u16::from_be_bytes([request[8], request[9]]);
    let up = TcpStream::connect((std::net::Ipv4Addr::LOCALHOST, port))?;
    tunnels.fetch_add(1, Ordering::SeqCst);
    client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])?;
    relay(client, up)
}
