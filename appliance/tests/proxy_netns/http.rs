//! A kept-alive HTTP/1.1 connection of the client namespace's kernel, to the anycast
//! address, and its requests (what curl cannot do: stay open between requests).

use std::io::{Read, Write};
use std::net::{SocketAddr, SocketAddrV6, TcpStream};
use std::time::Duration;

use super::netns_common::enter;
use super::netns_common::lab::{Lab, ANYCAST};

/// A kernel TCP connection from the client namespace to `port` of the anycast address.
pub fn connect(lab: &Lab, port: u16) -> TcpStream {
    let ns = lab.ns_name("cl");
    let to = SocketAddr::V6(SocketAddrV6::new(ANYCAST, port, 0, 0));
    let s = std::thread::spawn(move || {
        enter(&ns).expect("the client namespace");
        TcpStream::connect_timeout(&to, Duration::from_secs(5)).expect("connect")
    })
    .join()
    .expect("the connecting thread");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// GET `path` on a kept-alive connection: the status line and the body.
pub fn get(s: &mut TcpStream, path: &str) -> (String, Vec<u8>) {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: vany\r\n\r\n").as_bytes())
        .expect("send the request");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    // Bounded: the read timeout, and a head of at most 64 KiB.
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        assert!(buf.len() < 64 * 1024, "no response head");
        let n = s.read(&mut chunk).expect("read the response head");
        assert!(n > 0, "closed before the response head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .expect("a Content-Length");
    let mut body = buf.split_off(end);
    // Bounded by the length and the read timeout.
    while body.len() < len {
        let n = s.read(&mut chunk).expect("read the body");
        assert!(n > 0, "closed in the body");
        body.extend_from_slice(&chunk[..n]);
    }
    (head.lines().next().unwrap_or("").to_string(), body)
}
