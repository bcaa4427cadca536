//! Shared helpers for vany integration tests (see `tests/`).
//!
//! - [`python`]: run one of the Python helpers in `tests/scapy/` with Debian's
//!   `/usr/bin/python3`, one JSON document in on stdin, one out on stdout. Tests batch
//!   all their cases into one process.
//! - [`mip6`]: a plain, owned, serde-friendly description of an `IPv6 | [RH2] |
//!   [DestOpt(HAO)] | MH` packet ([`mip6::PacketFields`]), the same JSON shape the Python
//!   helpers read and write, with conversions to and from vany's wire types and a
//!   seeded random generator of such packets.
//! - [`pipe`]: a long-lived Python helper spoken to in line-delimited JSON, one request
//!   and one reply per line, for tests that exchange packets with a scapy peer one at a
//!   time (bounded: every reply has a deadline, the process is killed on drop).
//! - [`Failures`]: collects mismatches so a test reports many at once, with its seed.

use std::fmt::Write as _;

pub mod python {
    //! Running the Python helpers in `tests/scapy/`.

    use std::io::Write as _;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    use serde::de::DeserializeOwned;
    use serde::Serialize;

    /// The interpreter: Debian's, where `python3-scapy` installs scapy.
    pub const PYTHON: &str = "/usr/bin/python3";

    /// Directory of the Python helpers.
    pub fn scripts_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scapy")
    }

    /// Runs `tests/scapy/<script>` with `input` as JSON on stdin and parses its stdout as
    /// JSON. Panics with an actionable message if Python or scapy is missing, if the
    /// script fails, or if its output is not the JSON expected.
    pub fn run<I: Serialize, O: DeserializeOwned>(script: &str, input: &I) -> O {
        if !Path::new(PYTHON).exists() {
            panic!(
                "{PYTHON} not found: these tests need Debian's Python with scapy \
                 (`apt-get install python3 python3-scapy`)"
            );
        }
        let path = scripts_dir().join(script);
        let stdin = serde_json::to_vec(input).expect("test input serializes to JSON");
        // -B: do not leave __pycache__ in the source tree.
        let mut child = Command::new(PYTHON)
            .arg("-B")
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {PYTHON} {}: {e}", path.display()));
        // Write from another thread: the script may fill its stdout pipe before it has
        // read all of stdin.
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let writer = std::thread::spawn(move || pipe.write_all(&stdin));
        let output = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for {}: {e}", path.display()));
        let written = writer.join().expect("stdin writer thread");
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.code() == Some(3) {
            panic!("{stderr}\n(apt-get install python3-scapy)");
        }
        if !output.status.success() {
            panic!(
                "{} failed ({}); stderr:\n{stderr}",
                path.display(),
                output.status
            );
        }
        if let Err(e) = written {
            panic!("writing the input of {}: {e}", path.display());
        }
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "{} printed output that is not the JSON expected: {e}\nstdout starts: {}\nstderr:\n{stderr}",
                path.display(),
                String::from_utf8_lossy(&output.stdout[..output.stdout.len().min(2000)])
            )
        })
    }
}

pub mod pipe {
    //! A long-lived Python helper from `tests/scapy/` that a test talks to packet by
    //! packet: each request is one line of JSON on the helper's stdin, each reply one line
    //! of JSON on its stdout (see `tests/scapy/rr_pipe.py` for the Python side). A reply
    //! with an `"error"` member (a Python traceback) fails the test.
    //!
    //! Everything is bounded: a reply must come within [`PythonPipe::timeout`], a helper
    //! answers at most [`MAX_REQUESTS`] requests, the helper exits on EOF (which
    //! [`PythonPipe::finish`] gives it) and is killed when the pipe is dropped.

    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::{Child, ChildStdin, Command, Stdio};
    use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use serde_json::Value;

    use super::python::{scripts_dir, PYTHON};

    /// The longest wait for one reply, unless changed with [`PythonPipe::with_timeout`].
    pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
    /// The most requests one helper process answers (a runaway test loop fails instead).
    pub const MAX_REQUESTS: usize = 10_000;
    /// How long [`PythonPipe::finish`] waits for the helper to exit after EOF.
    pub const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A running helper. Dropping it kills the process if it is still running.
    pub struct PythonPipe {
        script: String,
        child: Child,
        stdin: Option<ChildStdin>,
        lines: Receiver<String>,
        stderr: Arc<Mutex<Vec<u8>>>,
        requests: usize,
        timeout: Duration,
    }

    impl PythonPipe {
        /// Starts `/usr/bin/python3 -B tests/scapy/<script>`. Panics with an actionable
        /// message if Python is missing.
        pub fn spawn(script: &str) -> PythonPipe {
            if !std::path::Path::new(PYTHON).exists() {
                panic!(
                    "{PYTHON} not found: these tests need Debian's Python with scapy \
                     (`apt-get install python3 python3-scapy`)"
                );
            }
            let path = scripts_dir().join(script);
            let mut child = Command::new(PYTHON)
                .arg("-B")
                .arg(&path)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {PYTHON} {}: {e}", path.display()));
            let stdin = child.stdin.take();
            let stdout = child.stdout.take().expect("stdout is piped");
            let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
            // Lines of stdout arrive through a channel so that a read can time out.
            let (tx, lines) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            // stderr is drained all along, so the helper never blocks on a full pipe.
            let stderr = Arc::new(Mutex::new(Vec::new()));
            let sink = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stderr_pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&buf[..n]);
                }
            });
            PythonPipe {
                script: script.to_string(),
                child,
                stdin,
                lines,
                stderr,
                requests: 0,
                timeout: REPLY_TIMEOUT,
            }
        }

        /// Sets the longest wait for one reply.
        pub fn with_timeout(mut self, timeout: Duration) -> PythonPipe {
            self.timeout = timeout;
            self
        }

        /// The deadline for one reply.
        pub fn timeout(&self) -> Duration {
            self.timeout
        }

        /// What the helper wrote on stderr so far.
        pub fn stderr(&self) -> String {
            let bytes = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
            String::from_utf8_lossy(&bytes).into_owned()
        }

        fn fail(&mut self, what: String) -> ! {
            // Give the helper a moment to finish its traceback before quoting stderr.
            let deadline = Instant::now() + Duration::from_millis(500);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let status = match self.child.try_wait() {
                Ok(Some(s)) if s.code() == Some(3) => {
                    format!("exited with {s} (scapy missing? apt-get install python3-scapy)")
                }
                Ok(Some(s)) => format!("exited with {s}"),
                _ => "still running".to_string(),
            };
            panic!(
                "{}: {what}; the helper {status}; its stderr:\n{}",
                self.script,
                self.stderr()
            );
        }

        /// Sends one request and returns the reply as JSON. Panics if the helper does not
        /// answer in time, exits, or answers with an `"error"` member.
        pub fn request_value<I: Serialize>(&mut self, request: &I) -> Value {
            self.requests += 1;
            if self.requests > MAX_REQUESTS {
                self.fail(format!("more than {MAX_REQUESTS} requests"));
            }
            let mut line = serde_json::to_string(request).expect("a request serializes to JSON");
            line.push('\n');
            let written = match self.stdin.as_mut() {
                Some(stdin) => stdin
                    .write_all(line.as_bytes())
                    .and_then(|()| stdin.flush()),
                None => Err(std::io::Error::other("stdin already closed")),
            };
            if let Err(e) = written {
                self.fail(format!("writing request {line:?}: {e}"));
            }
            let reply = match self.lines.recv_timeout(self.timeout) {
                Ok(reply) => reply,
                Err(RecvTimeoutError::Timeout) => self.fail(format!(
                    "no reply within {:?} to {}",
                    self.timeout,
                    line.trim_end()
                )),
                Err(RecvTimeoutError::Disconnected) => self.fail(format!(
                    "stdout closed before a reply to {}",
                    line.trim_end()
                )),
            };
            let value: Value = match serde_json::from_str(&reply) {
                Ok(v) => v,
                Err(e) => self.fail(format!("reply is not JSON ({e}): {reply}")),
            };
            if let Some(err) = value.get("error") {
                let err = err.as_str().map_or_else(|| err.to_string(), str::to_string);
                self.fail(format!(
                    "the helper failed on request {}:\n{err}",
                    line.trim_end()
                ));
            }
            value
        }

        /// Sends one request and deserializes the reply into `O`.
        pub fn request<I: Serialize, O: DeserializeOwned>(&mut self, request: &I) -> O {
            let value = self.request_value(request);
            match serde_json::from_value(value.clone()) {
                Ok(o) => o,
                Err(e) => self.fail(format!("reply is not the JSON expected ({e}): {value}")),
            }
        }

        /// Closes the helper's stdin and waits (at most [`EXIT_TIMEOUT`]) for it to exit;
        /// panics unless it exits with status 0. Returns its stderr.
        pub fn finish(mut self) -> String {
            drop(self.stdin.take());
            let deadline = Instant::now() + EXIT_TIMEOUT;
            loop {
                match self.child.try_wait() {
                    Ok(Some(status)) if status.success() => break,
                    Ok(Some(status)) => self.fail(format!("exit status {status} after EOF")),
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Ok(None) => self.fail(format!("did not exit within {EXIT_TIMEOUT:?} of EOF")),
                    Err(e) => self.fail(format!("waiting for the helper: {e}")),
                }
            }
            if let Ok(extra) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.fail(format!("unrequested output after EOF: {extra}"));
            }
            self.stderr()
        }
    }

    impl Drop for PythonPipe {
        fn drop(&mut self) {
            drop(self.stdin.take());
            if matches!(self.child.try_wait(), Ok(None)) {
                let _ = self.child.kill();
            }
            let _ = self.child.wait();
        }
    }
}

pub mod mip6 {
    //! Mobility Header packets as plain owned data, in the JSON shape the Python helpers
    //! share (see `tests/scapy/mip6_fields.py`).

    use core::net::Ipv6Addr;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use vany_stack::rand::SeededRandom;
    use vany_stack::wire::{
        parse, BindingAck, BindingUpdate, MhMessage, MhOption, MhOptions, MhRepr, MhType,
        PacketRepr, ParsedPacket, Upper,
    };

    /// The eight MH types, in type-number order.
    pub const MH_TYPES: [MhType; 8] = [
        MhType::Brr,
        MhType::Hoti,
        MhType::Coti,
        MhType::Hot,
        MhType::Cot,
        MhType::Bu,
        MhType::Ba,
        MhType::Be,
    ];

    /// Bytes that travel (and print) as a lowercase hex string.
    #[derive(Clone, PartialEq, Eq)]
    pub struct Hex<const N: usize>(pub [u8; N]);

    impl<const N: usize> core::fmt::Debug for Hex<N> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "{}", hex::encode(self.0))
        }
    }

    impl<const N: usize> Serialize for Hex<N> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&hex::encode(self.0))
        }
    }

    impl<'de, const N: usize> Deserialize<'de> for Hex<N> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = String::deserialize(d)?;
            let mut out = [0u8; N];
            hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
            Ok(Hex(out))
        }
    }

    /// A byte string of any length that travels (and prints) as a lowercase hex string.
    #[derive(Clone, PartialEq, Eq)]
    pub struct HexVec(pub Vec<u8>);

    impl core::fmt::Debug for HexVec {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "{}", hex::encode(&self.0))
        }
    }

    impl Serialize for HexVec {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&hex::encode(&self.0))
        }
    }

    impl<'de> Deserialize<'de> for HexVec {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = String::deserialize(d)?;
            hex::decode(&s)
                .map(HexVec)
                .map_err(serde::de::Error::custom)
        }
    }

    /// A mobility option (padding is never listed: emitters insert it).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    pub enum OptionFields {
        /// Binding Refresh Advice.
        RefreshAdvice {
            /// Interval in units of 4 s.
            interval: u16,
        },
        /// Alternate Care-of Address.
        AltCareOf {
            /// The address.
            address: Ipv6Addr,
        },
        /// Nonce Indices.
        NonceIndices {
            /// Home nonce index.
            home: u16,
            /// Care-of nonce index.
            care_of: u16,
        },
        /// Binding Authorization Data.
        AuthData {
            /// The authenticator.
            data: Hex<12>,
        },
        /// Any other option type.
        Unknown {
            /// The option type.
            #[serde(rename = "type")]
            kind: u8,
            /// The option data.
            data: HexVec,
        },
    }

    /// The type-specific fields of a Mobility Header.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(tag = "type")]
    pub enum MessageFields {
        /// Binding Refresh Request.
        #[serde(rename = "BRR")]
        Brr,
        /// Home Test Init.
        #[serde(rename = "HoTI")]
        Hoti {
            /// Home init cookie.
            cookie: Hex<8>,
        },
        /// Care-of Test Init.
        #[serde(rename = "CoTI")]
        Coti {
            /// Care-of init cookie.
            cookie: Hex<8>,
        },
        /// Home Test.
        #[serde(rename = "HoT")]
        Hot {
            /// Home nonce index.
            nonce_index: u16,
            /// Home init cookie.
            cookie: Hex<8>,
            /// Home keygen token.
            token: Hex<8>,
        },
        /// Care-of Test.
        #[serde(rename = "CoT")]
        Cot {
            /// Care-of nonce index.
            nonce_index: u16,
            /// Care-of init cookie.
            cookie: Hex<8>,
            /// Care-of keygen token.
            token: Hex<8>,
        },
        /// Binding Update.
        #[serde(rename = "BU")]
        Bu {
            /// Sequence number.
            seq: u16,
            /// A flag.
            ack: bool,
            /// H flag.
            home: bool,
            /// L flag.
            link_local: bool,
            /// K flag.
            key_mgmt: bool,
            /// The 12 bits after the flags.
            reserved: u16,
            /// Lifetime in units of 4 s.
            lifetime: u16,
        },
        /// Binding Acknowledgement.
        #[serde(rename = "BA")]
        Ba {
            /// Status.
            status: u8,
            /// K flag.
            key_mgmt: bool,
            /// The 7 bits after K.
            reserved: u8,
            /// Sequence number.
            seq: u16,
            /// Lifetime in units of 4 s.
            lifetime: u16,
        },
        /// Binding Error.
        #[serde(rename = "BE")]
        Be {
            /// Status.
            status: u8,
            /// Home address.
            home_address: Ipv6Addr,
        },
    }

    impl MessageFields {
        /// The MH type.
        pub fn mh_type(&self) -> MhType {
            match self {
                MessageFields::Brr => MhType::Brr,
                MessageFields::Hoti { .. } => MhType::Hoti,
                MessageFields::Coti { .. } => MhType::Coti,
                MessageFields::Hot { .. } => MhType::Hot,
                MessageFields::Cot { .. } => MhType::Cot,
                MessageFields::Bu { .. } => MhType::Bu,
                MessageFields::Ba { .. } => MhType::Ba,
                MessageFields::Be { .. } => MhType::Be,
            }
        }
    }

    /// A Mobility Header: message fields plus options in wire order.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct MhFields {
        /// The message.
        #[serde(flatten)]
        pub message: MessageFields,
        /// Options, without padding.
        pub options: Vec<OptionFields>,
    }

    /// A whole `IPv6 | [RH2] | [DestOpt(HAO)] | MH` packet.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct PacketFields {
        /// IPv6 source.
        pub src: Ipv6Addr,
        /// IPv6 destination.
        pub dst: Ipv6Addr,
        /// Traffic class.
        pub tc: u8,
        /// Flow label.
        pub fl: u32,
        /// Hop limit.
        pub hlim: u8,
        /// Home address in a Type 2 Routing Header.
        pub rh2: Option<Ipv6Addr>,
        /// Home address in a Home Address option.
        pub hao: Option<Ipv6Addr>,
        /// The Mobility Header.
        pub mh: MhFields,
    }

    impl OptionFields {
        fn from_option(o: &MhOption<'_>) -> OptionFields {
            match *o {
                MhOption::RefreshAdvice { interval } => OptionFields::RefreshAdvice { interval },
                MhOption::AltCareOf(address) => OptionFields::AltCareOf { address },
                MhOption::NonceIndices { home, care_of } => {
                    OptionFields::NonceIndices { home, care_of }
                }
                MhOption::AuthData(a) => OptionFields::AuthData { data: Hex(a) },
                MhOption::Unknown { kind, data } => OptionFields::Unknown {
                    kind,
                    data: HexVec(data.to_vec()),
                },
            }
        }

        fn to_option(&self) -> MhOption<'_> {
            match self {
                OptionFields::RefreshAdvice { interval } => MhOption::RefreshAdvice {
                    interval: *interval,
                },
                OptionFields::AltCareOf { address } => MhOption::AltCareOf(*address),
                OptionFields::NonceIndices { home, care_of } => MhOption::NonceIndices {
                    home: *home,
                    care_of: *care_of,
                },
                OptionFields::AuthData { data } => MhOption::AuthData(data.0),
                OptionFields::Unknown { kind, data } => MhOption::Unknown {
                    kind: *kind,
                    data: &data.0,
                },
            }
        }
    }

    impl PacketFields {
        /// The fields of a packet vany parsed; `Err` if it is not a known MH message.
        pub fn from_parsed(parsed: &ParsedPacket<'_>) -> Result<PacketFields, String> {
            let r = &parsed.repr;
            let Upper::Mh(m) = &r.upper else {
                return Err(format!(
                    "upper layer is not a Mobility Header: {:?}",
                    r.upper
                ));
            };
            let message = match m.message {
                MhMessage::Brr => MessageFields::Brr,
                MhMessage::Hoti { cookie } => MessageFields::Hoti {
                    cookie: Hex(cookie),
                },
                MhMessage::Coti { cookie } => MessageFields::Coti {
                    cookie: Hex(cookie),
                },
                MhMessage::Hot {
                    nonce_index,
                    cookie,
                    token,
                } => MessageFields::Hot {
                    nonce_index,
                    cookie: Hex(cookie),
                    token: Hex(token),
                },
                MhMessage::Cot {
                    nonce_index,
                    cookie,
                    token,
                } => MessageFields::Cot {
                    nonce_index,
                    cookie: Hex(cookie),
                    token: Hex(token),
                },
                MhMessage::Bu(bu) => MessageFields::Bu {
                    seq: bu.seq,
                    ack: bu.ack,
                    home: bu.home,
                    link_local: bu.link_local,
                    key_mgmt: bu.key_mgmt,
                    reserved: bu.reserved,
                    lifetime: bu.lifetime,
                },
                MhMessage::Ba(ba) => MessageFields::Ba {
                    status: ba.status,
                    key_mgmt: ba.key_mgmt,
                    reserved: ba.reserved,
                    seq: ba.seq,
                    lifetime: ba.lifetime,
                },
                MhMessage::Be {
                    status,
                    home_address,
                } => MessageFields::Be {
                    status,
                    home_address,
                },
                MhMessage::Unknown { mh_type, .. } => {
                    return Err(format!("vany parsed an unknown MH type {mh_type}"))
                }
            };
            Ok(PacketFields {
                src: r.src,
                dst: r.dst,
                tc: r.traffic_class,
                fl: r.flow_label,
                hlim: r.hop_limit,
                rh2: r.rh2,
                hao: r.hao,
                mh: MhFields {
                    message,
                    options: m.options.iter().map(OptionFields::from_option).collect(),
                },
            })
        }

        /// vany's representation of these fields.
        pub fn to_repr(&self) -> PacketRepr<'_> {
            let message = match &self.mh.message {
                MessageFields::Brr => MhMessage::Brr,
                MessageFields::Hoti { cookie } => MhMessage::Hoti { cookie: cookie.0 },
                MessageFields::Coti { cookie } => MhMessage::Coti { cookie: cookie.0 },
                MessageFields::Hot {
                    nonce_index,
                    cookie,
                    token,
                } => MhMessage::Hot {
                    nonce_index: *nonce_index,
                    cookie: cookie.0,
                    token: token.0,
                },
                MessageFields::Cot {
                    nonce_index,
                    cookie,
                    token,
                } => MhMessage::Cot {
                    nonce_index: *nonce_index,
                    cookie: cookie.0,
                    token: token.0,
                },
                MessageFields::Bu {
                    seq,
                    ack,
                    home,
                    link_local,
                    key_mgmt,
                    reserved,
                    lifetime,
                } => MhMessage::Bu(BindingUpdate {
                    seq: *seq,
                    ack: *ack,
                    home: *home,
                    link_local: *link_local,
                    key_mgmt: *key_mgmt,
                    reserved: *reserved,
                    lifetime: *lifetime,
                }),
                MessageFields::Ba {
                    status,
                    key_mgmt,
                    reserved,
                    seq,
                    lifetime,
                } => MhMessage::Ba(BindingAck {
                    status: *status,
                    key_mgmt: *key_mgmt,
                    reserved: *reserved,
                    seq: *seq,
                    lifetime: *lifetime,
                }),
                MessageFields::Be {
                    status,
                    home_address,
                } => MhMessage::Be {
                    status: *status,
                    home_address: *home_address,
                },
            };
            let mut options = MhOptions::new();
            for o in &self.mh.options {
                if options.push(o.to_option()).is_err() {
                    panic!("more options than vany's MhOptions holds: {:?}", self.mh);
                }
            }
            PacketRepr {
                src: self.src,
                dst: self.dst,
                traffic_class: self.tc,
                flow_label: self.fl,
                hop_limit: self.hlim,
                rh2: self.rh2,
                hao: self.hao,
                upper: Upper::Mh(MhRepr { message, options }),
            }
        }

        /// The packet as vany emits it (`PacketRepr::emit`).
        pub fn emit(&self) -> Vec<u8> {
            let repr = self.to_repr();
            let mut buf = vec![0u8; repr.buffer_len()];
            let len = repr
                .emit(&mut buf)
                .unwrap_or_else(|e| panic!("vany cannot emit {self:?}: {e}"));
            buf.truncate(len);
            buf
        }

        /// Parses `bytes` with vany into fields.
        pub fn parse(bytes: &[u8]) -> Result<PacketFields, String> {
            let parsed = parse(bytes).map_err(|e| format!("vany refuses the packet: {e}"))?;
            PacketFields::from_parsed(&parsed)
        }
    }

    /// A small convenience layer over vany's seeded generator.
    #[derive(Debug, Clone)]
    pub struct Gen(pub SeededRandom);

    impl Gen {
        /// A generator for `seed`.
        pub fn new(seed: u64) -> Gen {
            Gen(SeededRandom::new(seed))
        }

        /// 64 random bits.
        pub fn u64(&mut self) -> u64 {
            self.0.next_u64()
        }

        /// Uniform-ish in `0..n` (`n` > 0; the modulo bias is irrelevant here).
        pub fn below(&mut self, n: u64) -> u64 {
            self.u64() % n
        }

        /// True with probability `percent`/100.
        pub fn percent(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }

        /// A random byte.
        pub fn u8(&mut self) -> u8 {
            self.u64() as u8
        }

        /// A random u16.
        pub fn u16(&mut self) -> u16 {
            self.u64() as u16
        }

        /// `N` random bytes.
        pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
            let mut out = [0u8; N];
            for b in &mut out {
                *b = self.u8();
            }
            out
        }

        /// A random address in fd00::/8; one in ten is a short, zero-heavy one.
        pub fn addr(&mut self) -> Ipv6Addr {
            if self.percent(10) {
                let low = 1 + self.below(0xffff) as u16;
                return Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, low);
            }
            let mut o: [u8; 16] = self.bytes();
            o[0] = 0xfd;
            Ipv6Addr::from(o)
        }

        /// Picks one element.
        pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len() as u64) as usize]
        }

        /// Shuffles in place (Fisher-Yates).
        pub fn shuffle<T>(&mut self, items: &mut [T]) {
            for i in (1..items.len()).rev() {
                let j = self.below(i as u64 + 1) as usize;
                items.swap(i, j);
            }
        }
    }

    #[derive(Clone, Copy)]
    enum OptKind {
        RefreshAdvice,
        AltCareOf,
        NonceIndices,
        Unknown,
    }

    fn random_option(g: &mut Gen, kind: OptKind) -> OptionFields {
        match kind {
            OptKind::RefreshAdvice => OptionFields::RefreshAdvice { interval: g.u16() },
            OptKind::AltCareOf => OptionFields::AltCareOf { address: g.addr() },
            OptKind::NonceIndices => OptionFields::NonceIndices {
                home: g.u16(),
                care_of: g.u16(),
            },
            OptKind::Unknown => {
                // 17..=255: scapy dissects 6..=16 with classes of other RFCs.
                let kind = 17 + g.below(239) as u8;
                let len = g.below(13) as usize;
                OptionFields::Unknown {
                    kind,
                    data: HexVec((0..len).map(|_| g.u8()).collect()),
                }
            }
        }
    }

    /// Random options for a message of type `t`: BU gets Nonce Indices and Alternate
    /// CoA, BA gets Binding Refresh Advice, in random order, sometimes an unknown option,
    /// and Binding Authorization Data last more often than not; sometimes none at all. The
    /// other types now and then carry a few options too, to exercise padding from every
    /// fixed-part length.
    pub fn random_options(g: &mut Gen, t: MhType) -> Vec<OptionFields> {
        let mut opts = Vec::new();
        match t {
            MhType::Bu | MhType::Ba => {
                if g.percent(20) {
                    return opts;
                }
                let base: &[OptKind] = if t == MhType::Bu {
                    &[OptKind::NonceIndices, OptKind::AltCareOf]
                } else {
                    &[OptKind::RefreshAdvice]
                };
                for &k in base {
                    if g.percent(60) {
                        opts.push(random_option(g, k));
                    }
                }
                if g.percent(15) {
                    opts.push(random_option(g, OptKind::Unknown));
                }
                g.shuffle(&mut opts);
                if g.percent(60) {
                    opts.push(OptionFields::AuthData {
                        data: Hex(g.bytes()),
                    });
                }
            }
            _ => {
                if g.percent(25) {
                    let n = 1 + g.below(3);
                    for _ in 0..n {
                        let k = g.pick(&[
                            OptKind::RefreshAdvice,
                            OptKind::AltCareOf,
                            OptKind::NonceIndices,
                            OptKind::Unknown,
                        ]);
                        opts.push(random_option(g, k));
                    }
                }
            }
        }
        opts
    }

    /// Random message fields of type `t`. Only the BU flags A, H, L, K and the BA flag K
    /// are randomized; the reserved bits stay zero.
    pub fn random_message(g: &mut Gen, t: MhType) -> MessageFields {
        match t {
            MhType::Brr => MessageFields::Brr,
            MhType::Hoti => MessageFields::Hoti {
                cookie: Hex(g.bytes()),
            },
            MhType::Coti => MessageFields::Coti {
                cookie: Hex(g.bytes()),
            },
            MhType::Hot => MessageFields::Hot {
                nonce_index: g.u16(),
                cookie: Hex(g.bytes()),
                token: Hex(g.bytes()),
            },
            MhType::Cot => MessageFields::Cot {
                nonce_index: g.u16(),
                cookie: Hex(g.bytes()),
                token: Hex(g.bytes()),
            },
            MhType::Bu => MessageFields::Bu {
                seq: g.u16(),
                ack: g.percent(50),
                home: g.percent(50),
                link_local: g.percent(50),
                key_mgmt: g.percent(50),
                reserved: 0,
                lifetime: g.u16(),
            },
            MhType::Ba => {
                let any = g.u8();
                MessageFields::Ba {
                    status: g.pick(&[0, 1, 128, 135, 136, 137, 138, any]),
                    key_mgmt: g.percent(50),
                    reserved: 0,
                    seq: g.u16(),
                    lifetime: g.u16(),
                }
            }
            MhType::Be => {
                let any = g.u8();
                MessageFields::Be {
                    status: g.pick(&[1, 2, any]),
                    home_address: g.addr(),
                }
            }
            MhType::Unknown(v) => panic!("no random message for unknown MH type {v}"),
        }
    }

    /// A random packet of MH type `t`, with an RH2 and a HAO each present half the time.
    pub fn random_packet(g: &mut Gen, t: MhType) -> PacketFields {
        let src = g.addr();
        let dst = g.addr();
        let tc = g.u8();
        let fl = g.below(1 << 20) as u32;
        let hlim = g.u8();
        let rh2 = g.percent(50).then(|| g.addr());
        let hao = g.percent(50).then(|| g.addr());
        let message = random_message(g, t);
        let options = random_options(g, t);
        PacketFields {
            src,
            dst,
            tc,
            fl,
            hlim,
            rh2,
            hao,
            mh: MhFields { message, options },
        }
    }
}

/// Collects test failures so that one run reports many (up to a limit), each with the
/// seed that reproduces it.
#[derive(Debug)]
pub struct Failures {
    what: String,
    seed: Option<u64>,
    count: usize,
    report: String,
}

impl Failures {
    /// The most failures described in full.
    pub const SHOWN: usize = 12;

    /// A collector for the randomized test `what` run with `seed`.
    pub fn new(what: &str, seed: u64) -> Failures {
        Failures {
            what: what.to_string(),
            seed: Some(seed),
            count: 0,
            report: String::new(),
        }
    }

    /// A collector for the test `what`, which draws no random numbers.
    pub fn unseeded(what: &str) -> Failures {
        Failures {
            what: what.to_string(),
            seed: None,
            count: 0,
            report: String::new(),
        }
    }

    /// Records a failure.
    pub fn fail(&mut self, message: impl AsRef<str>) {
        self.count += 1;
        if self.count <= Self::SHOWN {
            let _ = writeln!(
                self.report,
                "--- failure {}:\n{}",
                self.count,
                message.as_ref()
            );
        }
    }

    /// Records a failure unless `ok`.
    pub fn check(&mut self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.fail(message());
        }
    }

    /// Records a failure unless `left == right`.
    pub fn check_eq<T: PartialEq + core::fmt::Debug>(
        &mut self,
        left: &T,
        right: &T,
        context: impl FnOnce() -> String,
    ) {
        if left != right {
            self.fail(format!(
                "{}\n  left:  {left:?}\n  right: {right:?}",
                context()
            ));
        }
    }

    /// Number of failures so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Panics with the report if anything failed.
    pub fn finish(self) {
        if self.count == 0 {
            return;
        }
        let seed = match self.seed {
            Some(s) => format!(" with seed {s} (replay with VANY_TEST_SEED={s})"),
            None => String::new(),
        };
        panic!(
            "{}: {} failure(s){seed}, the first {} shown:\n{}",
            self.what,
            self.count,
            self.count.min(Self::SHOWN),
            self.report
        );
    }
}

/// The seed for a randomized test: `VANY_TEST_SEED` if set, else `default`. Printed, so
/// that a failing run (whose output cargo shows) names it.
pub fn seed(default: u64) -> u64 {
    let seed = match std::env::var("VANY_TEST_SEED") {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|e| panic!("VANY_TEST_SEED={s:?} is not a u64: {e}")),
        Err(_) => default,
    };
    println!("seed {seed} (set VANY_TEST_SEED to replay another)");
    seed
}
