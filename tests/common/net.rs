//! Loopback networking for the tests: a fake SyncGuard node that counts what it is
//! asked, "closed by the server" checks, free ports and a bare HTTP GET.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A SyncGuard node on loopback answering every `GET_STATUS` with a reply that
/// can be changed while it runs (`None`: reads, never answers). It counts
/// connections and requests. Dropping it closes the listener and every connection.
pub struct FakeNode {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    reply: Arc<Mutex<Option<Vec<u8>>>>,
    task: Option<JoinHandle<()>>,
}

impl FakeNode {
    /// On 127.0.0.1, a port chosen by the system, answering without limit.
    pub async fn start(reply: Option<&str>) -> FakeNode {
        FakeNode::bind((Ipv4Addr::LOCALHOST, 0).into(), reply, usize::MAX).await
    }

    /// On `addr`. After `answers` replies on one connection it closes that
    /// connection at the next request, without a reply: an idle connection the
    /// node dropped just as the poll arrived.
    pub async fn bind(addr: SocketAddr, reply: Option<&str>, answers: usize) -> FakeNode {
        let listener = TcpListener::bind(addr).await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let reply = Arc::new(Mutex::new(reply.map(|r| r.as_bytes().to_vec())));
        let task = tokio::spawn(serve(
            listener,
            accepted.clone(),
            requests.clone(),
            reply.clone(),
            answers,
        ));
        FakeNode {
            addr,
            accepted,
            requests,
            reply,
            task: Some(task),
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// `GET_STATUS` requests read so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn set_reply(&self, reply: Option<&str>) {
        *self.reply.lock().unwrap_or_else(|e| e.into_inner()) =
            reply.map(|r| r.as_bytes().to_vec());
    }

    /// A `[[node]]` table for this node.
    pub fn node_toml(&self, name: &str, extra: &str) -> String {
        format!(
            "[[node]]\nname = \"{name}\"\nhost = \"{}\"\nport = {}\n{extra}\n",
            self.addr.ip(),
            self.addr.port()
        )
    }

    /// Stops the node and waits until its listener and connections are closed.
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn serve(
    listener: TcpListener,
    accepted: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    reply: Arc<Mutex<Option<Vec<u8>>>>,
    answers: usize,
) {
    // Connections live in the set, so aborting this task closes them too.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            Ok((stream, _)) = listener.accept() => {
                accepted.fetch_add(1, Ordering::SeqCst);
                conns.spawn(answer(stream, requests.clone(), reply.clone(), answers));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn answer(
    mut stream: TcpStream,
    requests: Arc<AtomicUsize>,
    reply: Arc<Mutex<Option<Vec<u8>>>>,
    answers: usize,
) {
    let mut buf = [0u8; 64];
    let mut seen = Vec::new();
    let mut answered = 0;
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
        while let Some(p) = seen.windows(10).position(|w| w == b"GET_STATUS") {
            seen.drain(..p + 10);
            if answered == answers {
                // Everything sent has been read, so this is a FIN, not a RST.
                return;
            }
            answered += 1;
            requests.fetch_add(1, Ordering::SeqCst);
            let now = reply.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(r) = now
                && stream.write_all(&r).await.is_err()
            {
                return;
            }
        }
        // A peer that never sends a request cannot grow this without bound.
        if seen.len() > 4096 {
            return;
        }
    }
}

/// Reads until EOF or reset; true if the server closed the connection within `limit`.
pub async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 256];
    tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// [`closed_within`] for a blocking stream.
pub fn std_closed_within(s: &mut std::net::TcpStream, limit: Duration) -> bool {
    let start = Instant::now();
    let mut buf = [0u8; 256];
    while start.elapsed() < limit {
        let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// A loopback port free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A bare HTTP/1.1 GET on 127.0.0.1:`port`; the whole response, or `None` when
/// nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}
