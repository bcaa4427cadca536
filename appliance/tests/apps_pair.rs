//! The echo and HTTP apps over real TCP connections (vany's engine on both ends of an
//! in-memory link), including a server connection moved by snapshot/restore, with its
//! app state serialized, in the middle of a response (what a handoff does).

mod apps_common;

use apps_common::{responses, Pair};
use vany_appliance::apps::source::stream_byte;
use vany_appliance::apps::{AppKind, AppTimeouts};
use vany_stack::tcp::{Connection, FourTuple, State};
use vany_stack::time::Duration;

fn is_stream(id: u64, body: &[u8]) -> bool {
    body.iter()
        .enumerate()
        .all(|(i, b)| *b == stream_byte(id, i as u64))
}

#[test]
fn echo_returns_every_byte_in_order_and_closes_after_the_client() {
    let mut p = Pair::new(AppKind::Echo, 1);
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let got = p.exchange(&data, 20_000, |g| g.len() >= 1_000_000);
    assert_eq!(got.len(), data.len());
    assert!(got == data, "echo differs");
    p.client_conn().close();
    let mut closed = false;
    for _ in 0..1000 {
        p.tick();
        if p.client_conn().is_read_closed() {
            closed = true;
            break;
        }
    }
    assert!(closed, "the server closed after the client did");
}

#[test]
fn http_answers_pipelined_requests_on_one_keep_alive_connection() {
    let mut p = Pair::new(AppKind::Http, 2);
    let req = b"GET /bytes/300000 HTTP/1.1\r\nHost: vany\r\n\r\nHEAD / HTTP/1.1\r\nHost: vany\r\n\r\nGET /health HTTP/1.1\r\nHost: vany\r\n\r\nGET /missing HTTP/1.1\r\nHost: vany\r\n\r\n";
    let kinds = [false, true, false, false];
    let got = p.exchange(req, 20_000, |g| responses(g, &kinds).len() == 4);
    let r = responses(&got, &kinds);
    assert_eq!(
        r.len(),
        4,
        "{}",
        String::from_utf8_lossy(&got[..got.len().min(400)])
    );
    assert_eq!(r[0].0, "HTTP/1.1 200 OK");
    assert_eq!(r[0].2.len(), 300_000);
    assert!(is_stream(300_000, &r[0].2));
    assert!(r[0].1.contains("Connection: keep-alive"));
    assert_eq!(r[1].0, "HTTP/1.1 200 OK");
    assert!(r[1].2.is_empty());
    assert_eq!(r[2].2, b"ok\n");
    assert_eq!(r[3].0, "HTTP/1.1 404 Not Found");
    assert!(!p.client_conn().is_read_closed(), "kept alive");
    // Connection: close is honoured.
    let got = p.exchange(
        b"GET /health HTTP/1.1\r\nHost: vany\r\nConnection: close\r\n\r\n",
        2000,
        |g| responses(g, &[false]).len() == 1,
    );
    assert_eq!(responses(&got, &[false])[0].2, b"ok\n");
    let mut closed = false;
    for _ in 0..200 {
        p.tick();
        if p.client_conn().is_read_closed() {
            closed = true;
            break;
        }
    }
    assert!(closed, "closed after Connection: close");
}

#[test]
fn http_errors_close_the_connection() {
    let mut p = Pair::new(AppKind::Http, 3);
    let got = p.exchange(
        b"DELETE / HTTP/1.1\r\nHost: vany\r\n\r\nGET / HTTP/1.1\r\nHost: vany\r\n\r\n",
        2000,
        |g| responses(g, &[false]).len() == 1,
    );
    let r = responses(&got, &[false]);
    assert_eq!(r[0].0, "HTTP/1.1 405 Method Not Allowed");
    let mut closed = false;
    for _ in 0..200 {
        p.tick();
        if p.client_conn().is_read_closed() {
            closed = true;
            break;
        }
    }
    assert!(closed);
    // A head longer than the limit.
    let mut p = Pair::new(AppKind::Http, 4);
    let mut req = b"GET / HTTP/1.1\r\n".to_vec();
    while req.len() < 9000 {
        req.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let got = p.exchange(&req, 2000, |g| responses(g, &[false]).len() == 1);
    assert_eq!(
        responses(&got, &[false])[0].0,
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
}

#[test]
fn an_http_response_continues_intact_after_the_server_connection_moves() {
    let mut p = Pair::new(AppKind::Http, 5);
    let req = b"GET /bytes/2000000 HTTP/1.1\r\nHost: vany\r\n\r\nGET /bytes/1000 HTTP/1.1\r\nHost: vany\r\n\r\n";
    // Part of the first body, then the move, then the rest.
    let kinds = [false, false];
    let mut got = p.exchange(req, 20_000, |g| g.len() > 700_000);
    assert!(got.len() > 700_000 && got.len() < 2_000_000);
    p.move_server(99);
    p.exchange_into(&mut got, &[], 20_000, |g| g.len() > 1_400_000);
    assert!(got.len() > 1_400_000 && got.len() < 2_000_000);
    p.move_server(100);
    p.exchange_into(&mut got, &[], 20_000, |g| responses(g, &kinds).len() == 2);
    let r = responses(&got, &kinds);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].2.len(), 2_000_000);
    assert!(is_stream(2_000_000, &r[0].2), "first body intact");
    assert!(is_stream(1000, &r[1].2), "second body intact");
}

/// Short timeouts for the tests below: 300 ms for a request, 800 ms idle.
fn short() -> AppTimeouts {
    AppTimeouts {
        header: Duration::from_millis(300),
        idle: Duration::from_millis(800),
    }
}

#[test]
fn http_answers_408_to_a_head_that_does_not_arrive_in_time_and_closes() {
    let mut p = Pair::with_timeouts(AppKind::Http, 11, short());
    let got = p.exchange(b"GET /health HTTP/1.1\r\nHo", 50, |_| false);
    assert!(got.is_empty());
    let (ms, got) = p.until_server_closes(5_000).expect("the server closes");
    assert!((200..=400).contains(&ms), "closed after {ms} ms");
    let r = responses(&got, &[false]);
    assert_eq!(r[0].0, "HTTP/1.1 408 Request Timeout");
    assert!(r[0].1.contains("Connection: close"));
}

#[test]
fn http_closes_a_connection_that_never_sends_a_request_and_an_idle_keep_alive_one() {
    let mut p = Pair::with_timeouts(AppKind::Http, 12, short());
    let (_, got) = p.until_server_closes(5_000).expect("the server closes");
    assert!(got.is_empty(), "nothing but a FIN for no request at all");

    let mut p = Pair::with_timeouts(AppKind::Http, 13, short());
    let got = p.exchange(b"GET /health HTTP/1.1\r\nHost: vany\r\n\r\n", 2000, |g| {
        responses(g, &[false]).len() == 1
    });
    assert_eq!(responses(&got, &[false])[0].2, b"ok\n");
    let (ms, got) = p.until_server_closes(5_000).expect("the server closes");
    assert!(
        got.is_empty(),
        "an idle connection is closed without a response"
    );
    assert!((600..=1000).contains(&ms), "closed after {ms} ms idle");
}

#[test]
fn a_client_that_does_not_close_after_the_server_is_reset_after_the_idle_timeout() {
    let mut p = Pair::with_timeouts(AppKind::Http, 14, short());
    p.exchange(
        b"GET /health HTTP/1.1\r\nHost: vany\r\nConnection: close\r\n\r\n",
        2000,
        |g| responses(g, &[false]).len() == 1,
    );
    p.until_server_closes(2_000).expect("the server closes");
    // The client acknowledged the FIN but keeps its side open: FIN-WAIT-2 at the server,
    // until the app resets the connection.
    let mut reset = false;
    for _ in 0..5_000 {
        p.tick();
        if p.client_conn().state() == State::Closed {
            reset = true;
            break;
        }
    }
    assert!(reset, "the server reset its FIN-WAIT-2 connection");
    let t = p.tuple;
    let server = FourTuple {
        local: t.remote,
        local_port: t.remote_port,
        remote: t.local,
        remote_port: t.local_port,
    };
    let state = p.server.connection(&server).map(Connection::state);
    assert!(matches!(state, None | Some(State::Closed)), "{state:?}");
}

#[test]
fn echo_and_source_close_connections_that_wait_too_long() {
    let mut p = Pair::with_timeouts(AppKind::Echo, 15, short());
    let got = p.exchange(b"hello", 2000, |g| g.len() == 5);
    assert_eq!(got, b"hello");
    let (ms, _) = p.until_server_closes(5_000).expect("echo closes when idle");
    assert!((600..=1000).contains(&ms), "closed after {ms} ms idle");
    // The stream source needs its 24-byte request in time; 10 bytes are not one.
    let mut p = Pair::with_timeouts(AppKind::Source, 16, short());
    p.exchange(&[0u8; 10], 50, |_| false);
    let (_, got) = p.until_server_closes(5_000).expect("source closes");
    assert!(got.is_empty());
}
