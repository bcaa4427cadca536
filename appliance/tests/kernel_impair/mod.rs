//! The kernel interop test's path impairments (`tests/kernel_tcp.rs`): a backend wrapper
//! that drops and delays packets both ways, set from the environment
//! (`VANY_KERNEL_LOSS`, `VANY_KERNEL_DELAY_MS`, `VANY_KERNEL_MOVE_GAP_MS`,
//! `VANY_KERNEL_TRACE`).

use std::collections::VecDeque;
use std::time::{Duration, Instant as StdInstant};

use vany_appliance::io::{self, Built, IoError, Lent, PacketIo, RxMeta, Segmentation};
use vany_stack::rand::SeededRandom;

/// Path impairments from the environment (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    pub loss_permille: u64,
    pub delay: Duration,
    pub move_gap: Duration,
}

pub fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}")),
    )
}

impl Impairment {
    pub fn from_env() -> Impairment {
        Impairment {
            loss_permille: env_u64("VANY_KERNEL_LOSS").unwrap_or(0).min(1000),
            delay: Duration::from_millis(env_u64("VANY_KERNEL_DELAY_MS").unwrap_or(0)),
            move_gap: Duration::from_millis(env_u64("VANY_KERNEL_MOVE_GAP_MS").unwrap_or(2)),
        }
    }

    pub fn is_none(&self) -> bool {
        self.loss_permille == 0 && self.delay.is_zero()
    }
}

/// A backend wrapper that drops and delays packets both ways. Over a TUN device with
/// offloads it passes what they add through ([`RxMeta`], super-segments), and a loss
/// then takes a whole coalesced or super-segment (a burst of up to 45 segments).
pub struct Impaired<'a, I: PacketIo> {
    inner: &'a mut I,
    cfg: Impairment,
    rng: SeededRandom,
    rx_queue: VecDeque<(StdInstant, Vec<u8>, RxMeta)>,
    tx_queue: VecDeque<(StdInstant, Vec<u8>, Option<Segmentation>)>,
    buf: Vec<u8>,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    /// `VANY_KERNEL_TRACE=<file>`: one line per TCP segment either way.
    trace: Option<(StdInstant, std::io::BufWriter<std::fs::File>)>,
}

impl<'a, I: PacketIo> Impaired<'a, I> {
    pub fn new(inner: &'a mut I, cfg: Impairment, seed: u64) -> Self {
        Impaired {
            inner,
            cfg,
            rng: SeededRandom::new(seed),
            rx_queue: VecDeque::new(),
            tx_queue: VecDeque::new(),
            buf: vec![0; io::MAX_PACKET],
            rx_dropped: 0,
            tx_dropped: 0,
            trace: std::env::var("VANY_KERNEL_TRACE").ok().map(|path| {
                let f = std::fs::File::create(&path)
                    .unwrap_or_else(|e| panic!("VANY_KERNEL_TRACE={path}: {e}"));
                (StdInstant::now(), std::io::BufWriter::new(f))
            }),
        }
    }

    /// Logs a segment: time (µs), direction (k>v: from the kernel), dropped, flags,
    /// seq, ack, payload length, window, SACK blocks, TSval, TSecr.
    fn log(&mut self, dir: &str, dropped: bool, packet: &[u8]) {
        use std::io::Write as _;
        let Some((t0, w)) = self.trace.as_mut() else {
            return;
        };
        let Ok(p) = vany_stack::wire::parse(packet) else {
            return;
        };
        let vany_stack::wire::Upper::Tcp(seg) = &p.repr.upper else {
            return;
        };
        let sack: Vec<String> = seg
            .sack_ranges
            .iter()
            .flatten()
            .map(|(a, b)| format!("{a}-{b}"))
            .collect();
        let (tsval, tsecr) = seg.timestamp.map_or((0, 0), |t| (t.tsval, t.tsecr));
        let _ = writeln!(
            w,
            "{} {dir} {} {:?} {} {} {} {} [{}] {tsval} {tsecr}",
            t0.elapsed().as_micros(),
            u8::from(dropped),
            seg.control,
            seg.seq_number.0 as u32,
            seg.ack_number.map_or(0, |a| a.0 as u32),
            seg.payload.len(),
            seg.window_len,
            sack.join(",")
        );
    }

    fn lose(&mut self) -> bool {
        self.cfg.loss_permille > 0 && self.rng.next_u64() % 1000 < self.cfg.loss_permille
    }

    fn flush(&mut self) -> Result<(), IoError> {
        let now = StdInstant::now();
        while self.tx_queue.front().is_some_and(|(at, _, _)| *at <= now) {
            let (_, p, seg) = self.tx_queue.pop_front().expect("front exists");
            self.inner.send_with_meta(&mut |buf| {
                buf[..p.len()].copy_from_slice(&p);
                (p.len(), seg)
            })?;
        }
        Ok(())
    }

    /// Reads what the backend holds into the receive queue, dropping some.
    fn pull(&mut self) -> Result<(), IoError> {
        let mut got = Vec::new();
        // Bounded: the backend holds a few hundred packets at most.
        self.inner
            .rx_each_meta(4096, &mut |p, meta| got.push((p.to_vec(), meta)))?;
        for (p, meta) in got {
            let lost = self.lose();
            self.log("k>v", lost, &p);
            if lost {
                self.rx_dropped += 1;
                continue;
            }
            self.rx_queue
                .push_back((StdInstant::now() + self.cfg.delay, p, meta));
        }
        Ok(())
    }

    /// The next packet due in the receive queue.
    fn pop_due(&mut self) -> Option<(Vec<u8>, RxMeta)> {
        let due = self
            .rx_queue
            .front()
            .is_some_and(|(at, _, _)| *at <= StdInstant::now());
        due.then(|| self.rx_queue.pop_front())
            .flatten()
            .map(|(_, p, m)| (p, m))
    }
}

impl<I: PacketIo> PacketIo for Impaired<'_, I> {
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, IoError> {
        self.flush()?;
        if self.rx_queue.is_empty() {
            self.pull()?;
        }
        Ok(self.pop_due().map(|(p, _)| {
            let n = p.len().min(buf.len());
            buf[..n].copy_from_slice(&p[..n]);
            n
        }))
    }

    fn rx_each_meta(
        &mut self,
        max: usize,
        each: &mut dyn FnMut(&[u8], RxMeta),
    ) -> Result<usize, IoError> {
        self.flush()?;
        if self.rx_queue.is_empty() {
            self.pull()?;
        }
        let mut n = 0;
        while n < max {
            let Some((p, meta)) = self.pop_due() else {
                break;
            };
            each(&p, meta);
            n += 1;
        }
        Ok(n)
    }

    fn send(&mut self, packet: &[u8]) -> Result<bool, IoError> {
        self.send_with_meta(&mut |buf| {
            buf[..packet.len()].copy_from_slice(packet);
            (packet.len(), None)
        })
        .map(|l| !matches!(l, Lent::Dropped(_)))
    }

    fn send_with_meta(
        &mut self,
        build: &mut dyn FnMut(&mut [u8]) -> Built,
    ) -> Result<Lent, IoError> {
        let mut buf = std::mem::take(&mut self.buf);
        let (len, seg) = build(&mut buf);
        let packet = buf[..len.min(buf.len())].to_vec();
        self.buf = buf;
        if packet.is_empty() {
            return Ok(Lent::Empty);
        }
        let lost = self.lose();
        self.log("v>k", lost, &packet);
        if lost {
            self.tx_dropped += 1;
            return Ok(Lent::Sent(packet.len()));
        }
        self.tx_queue
            .push_back((StdInstant::now() + self.cfg.delay, packet.clone(), seg));
        self.flush()?;
        Ok(Lent::Sent(packet.len()))
    }

    fn segmentation_offload(&self) -> bool {
        self.inner.segmentation_offload()
    }

    fn wait(&mut self, timeout: Duration) -> Result<(), IoError> {
        let now = StdInstant::now();
        let next = [
            self.rx_queue.front().map(|q| q.0),
            self.tx_queue.front().map(|q| q.0),
        ]
        .into_iter()
        .flatten()
        .map(|at| at.saturating_duration_since(now))
        .min();
        match next {
            Some(d) if d.is_zero() => Ok(()),
            Some(d) => self.inner.wait(timeout.min(d)),
            None => self.inner.wait(timeout),
        }
    }
}
