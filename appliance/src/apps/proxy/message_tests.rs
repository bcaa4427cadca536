use super::*;

const CLIENT: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xc, 0, 0, 0, 0, 0, 1);

fn req(head: &str) -> Result<ClientRequest, RequestError> {
    client_request(head.as_bytes(), CLIENT, 1000)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_request_loses_its_hop_by_hop_headers_and_gains_via_and_forwarded_for() {
    let r = req(
        "GET /a?b=1 HTTP/1.1\r\nHost: site\r\nConnection: keep-alive, X-Secret\r\n\
                 X-Secret: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nUpgrade: h2c\r\n\
                 Expect: 100-continue\r\nAccept: */*\r\nX-Forwarded-For: fd00::9\r\n\r\n",
    )
    .unwrap();
    let h = text(&r.forward.head);
    assert!(h.starts_with("GET /a?b=1 HTTP/1.1\r\n"), "{h}");
    assert!(
        h.contains("Host: site\r\n") && h.contains("Accept: */*\r\n"),
        "{h}"
    );
    for gone in [
        "X-Secret",
        "Keep-Alive",
        "TE:",
        "Upgrade",
        "Expect",
        "keep-alive",
    ] {
        assert!(!h.contains(gone), "{gone} in {h}");
    }
    assert!(h.contains("X-Forwarded-For: fd00::9, fd00:c::1\r\n"), "{h}");
    assert!(h.contains("Via: 1.1 vany\r\nConnection: close\r\n"), "{h}");
    assert!(h.ends_with("\r\n\r\n"));
    assert!(r.keep_alive && r.forward.is_get && !r.forward.ranged);
    assert_eq!(r.body_len, 0);
}

#[test]
fn bodies_need_a_length_within_the_limit_and_hosts_are_checked() {
    let r = req("POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(r.body_len, 5);
    assert!(!r.keep_alive && !r.forward.is_get);
    let h = text(&r.forward.head);
    assert_eq!(h.matches("Content-Length: 5\r\n").count(), 1, "{h}");
    for (head, want) in [
        (
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            RequestError::LengthRequired,
        ),
        (
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n",
            RequestError::TooLarge,
        ),
        (
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
            RequestError::Bad("conflicting Content-Length"),
        ),
        (
            "GET / HTTP/1.1\r\n\r\n",
            RequestError::Bad("an HTTP/1.1 request needs exactly one Host"),
        ),
        (
            "GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
            RequestError::Bad("only origin-form targets are proxied"),
        ),
        (
            "GET / HTTP/1.1\r\nHost x\r\n\r\n",
            RequestError::Bad("malformed request head"),
        ),
    ] {
        assert_eq!(req(head).unwrap_err(), want, "{head}");
    }
    // HTTP/1.0 needs no Host and closes by default.
    let r = req("GET / HTTP/1.0\r\n\r\n").unwrap();
    assert!(!r.keep_alive && r.forward.version == 0);
    assert!(text(&r.forward.head).starts_with("GET / HTTP/1.0\r\n"));
}

fn get() -> Forward {
    req("GET /big HTTP/1.1\r\nHost: x\r\n\r\n").unwrap().forward
}

fn response(head: &str, forward: &Forward, keep_alive: bool) -> ResponseHead {
    let (h, n) = backend_response(head.as_bytes(), forward, keep_alive)
        .unwrap()
        .expect("whole head");
    assert_eq!(n, head.len());
    h
}

#[test]
fn a_strong_tag_a_length_and_byte_ranges_make_a_response_resumable() {
    let full = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nETag: \"abc\"\r\n\
                Accept-Ranges: bytes\r\nConnection: close\r\nKeep-Alive: 1\r\n\r\n";
    let h = response(full, &get(), true);
    assert_eq!(h.status, 200);
    assert_eq!(h.framing, Framing::Length(100));
    assert_eq!(h.resume, Some(("\"abc\"".to_string(), 100)));
    assert!(!h.close);
    let t = text(&h.head);
    assert!(t.contains("ETag: \"abc\"\r\n") && t.ends_with("Connection: keep-alive\r\n\r\n"));
    assert!(
        !t.contains("Keep-Alive") && !t.contains("Connection: close"),
        "{t}"
    );
    // Any of the conditions missing: not resumable.
    for head in [
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nETag: W/\"abc\"\r\nAccept-Ranges: bytes\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nETag: \"abc\"\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nAccept-Ranges: bytes\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: \"a\"\r\nAccept-Ranges: bytes\r\n\r\n",
        "HTTP/1.1 206 Partial\r\nContent-Length: 10\r\nETag: \"a\"\r\nAccept-Ranges: bytes\r\n\r\n",
    ] {
        assert_eq!(response(head, &get(), true).resume, None, "{head}");
    }
    let ranged = req("GET /big HTTP/1.1\r\nHost: x\r\nRange: bytes=1-2\r\n\r\n")
        .unwrap()
        .forward;
    assert_eq!(response(full, &ranged, true).resume, None);
}

#[test]
fn framing_follows_rfc_9112_and_decides_whether_the_client_connection_closes() {
    let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n";
    let h = response(chunked, &get(), true);
    assert_eq!(h.framing, Framing::UntilClose { chunked: true });
    assert!(!h.close, "a chunked body ends where the client sees it");
    let until_close = response("HTTP/1.1 200 OK\r\n\r\n", &get(), true);
    assert_eq!(until_close.framing, Framing::UntilClose { chunked: false });
    assert!(until_close.close);
    for head in [
        "HTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
    ] {
        assert_eq!(
            response(head, &get(), true).framing,
            Framing::Empty,
            "{head}"
        );
    }
    let head_req = req("HEAD /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap()
        .forward;
    let h = response(
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
        &head_req,
        true,
    );
    assert_eq!(h.framing, Framing::Empty);
    assert!(
        response(
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n",
            &get(),
            false
        )
        .close
    );
    assert_eq!(
        backend_response(b"HTTP/1.1 200 OK\r\nContent-", &get(), true),
        Ok(None)
    );
    assert!(backend_response(b"SPDY 200\r\n\r\n", &get(), true).is_err());
    assert!(backend_response(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        &get(),
        true
    )
    .is_err());
}

#[test]
fn a_resumed_request_asks_for_the_rest_and_its_answer_is_checked() {
    let r = resume_request(&get(), 4096, "\"abc\"");
    let t = text(&r);
    assert!(t.starts_with("GET /big HTTP/1.1\r\n"), "{t}");
    assert!(
        t.ends_with("Range: bytes=4096-\r\nIf-Range: \"abc\"\r\n\r\n"),
        "{t}"
    );
    assert_eq!(t.matches("\r\n\r\n").count(), 1);
    let ok = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 4096-9999/10000\r\n\
              ETag: \"abc\"\r\nContent-Length: 5904\r\n\r\n";
    assert_eq!(
        resumed_response(ok.as_bytes(), 4096, "\"abc\"", 10000),
        Ok(Some(ok.len()))
    );
    assert_eq!(
        resumed_response(&ok.as_bytes()[..20], 4096, "\"abc\"", 10000),
        Ok(None)
    );
    for bad in [
        "HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nContent-Length: 10000\r\n\r\n",
        "HTTP/1.1 206 Partial\r\nContent-Range: bytes 4000-9999/10000\r\nETag: \"abc\"\r\n\r\n",
        "HTTP/1.1 206 Partial\r\nContent-Range: bytes 4096-9999/10001\r\nETag: \"abc\"\r\n\r\n",
        "HTTP/1.1 206 Partial\r\nContent-Range: bytes 4096-9999/10000\r\nETag: \"abd\"\r\n\r\n",
        "HTTP/1.1 206 Partial\r\nContent-Range: bytes 4096-9999/10000\r\n\r\n",
    ] {
        assert!(
            resumed_response(bad.as_bytes(), 4096, "\"abc\"", 10000).is_err(),
            "{bad}"
        );
    }
}
