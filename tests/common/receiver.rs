//! A local HTTP receiver for the notification tests: it records the method, path,
//! headers and body of every request and answers with a status the test sets, or
//! hangs, or answers garbage. Its port can be reserved before it listens, so a
//! monitor can be pointed at a receiver that is down and comes up later.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Handle;
use tokio::task::{JoinHandle, JoinSet};

/// How the receiver answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP answer with this status (and a short body).
    Status(u16),
    /// `503 Service Unavailable` with `Retry-After: <seconds>`.
    Busy(u64),
    /// Accepts the connection, reads, never answers.
    Hang,
    /// Writes bytes that are not HTTP, then closes.
    Garbage,
}

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Request {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; fails the test when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} {}: body is not JSON ({e}): {}",
                self.method,
                self.path,
                self.text()
            )
        })
    }
}

#[derive(Debug)]
struct Shared {
    requests: Mutex<Vec<Request>>,
    answer: Mutex<Answer>,
    connections: AtomicUsize,
}

/// A loopback port held for a receiver that does not listen yet: the socket is
/// bound, so connections to it are refused and no other socket can take the port.
pub struct Reserved {
    socket: TcpSocket,
    pub addr: SocketAddr,
}

impl Default for Reserved {
    fn default() -> Reserved {
        Reserved::new()
    }
}

impl Reserved {
    pub fn new() -> Reserved {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind((Ipv4Addr::LOCALHOST, 0).into())
            .expect("bind loopback");
        let addr = socket.local_addr().expect("local addr");
        Reserved { socket, addr }
    }

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Starts listening, served by `rt`.
    pub fn listen(self, rt: &Handle, answer: Answer) -> Receiver {
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            answer: Mutex::new(answer),
            connections: AtomicUsize::new(0),
        });
        let listener = {
            let _in_runtime = rt.enter();
            self.socket.listen(1024).expect("listen")
        };
        let task = rt.spawn(serve(listener, shared.clone()));
        Receiver {
            addr: self.addr,
            shared,
            task,
        }
    }
}

/// A receiver listening on 127.0.0.1; dropping it closes the listener and every
/// connection.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Receiver {
    /// On a port chosen by the system, listening now.
    pub fn start(rt: &Handle, answer: Answer) -> Receiver {
        Reserved::new().listen(rt, answer)
    }

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.requests).clone()
    }

    /// The requests so far whose path is `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Connections accepted so far (also those never answered).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// How requests from now on are answered (a connection already open keeps
    /// the mode it was accepted in, except for the status of an HTTP answer).
    pub fn set_answer(&self, answer: Answer) {
        *lock(&self.shared.answer) = answer;
    }

    /// Waits until `done` holds for the requests so far, failing the test with
    /// `what` and what arrived after `limit`; returns the requests.
    pub fn wait_for(
        &self,
        limit: Duration,
        what: &str,
        done: impl Fn(&[Request]) -> bool,
    ) -> Vec<Request> {
        let held = super::wait_until(limit, || done(&lock(&self.shared.requests)));
        let got = self.requests();
        assert!(
            held,
            "not within {limit:?}: {what}\nreceived:\n{}",
            describe(&got)
        );
        got
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The requests one per line (method, path, headers, body), for failure messages.
pub fn describe(requests: &[Request]) -> String {
    requests
        .iter()
        .map(|r| {
            let headers: Vec<String> = r.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            format!(
                "{} {} [{}] {}",
                r.method,
                r.path,
                headers.join("; "),
                r.text()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    // Connections live in the set, so aborting this task closes them too.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            Ok((stream, _)) = listener.accept() => {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let answer = *lock(&shared.answer);
                conns.spawn(connection(stream, answer, shared.clone()));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn connection(mut stream: TcpStream, answer: Answer, shared: Arc<Shared>) {
    match answer {
        Answer::Hang => {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    return;
                }
            }
        }
        Answer::Garbage => {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let _ = stream
                .write_all(b"\x00\x7fNOT HTTP AT ALL\r\n\r\n\xff\xfe")
                .await;
            let _ = stream.shutdown().await;
        }
        Answer::Status(_) | Answer::Busy(_) => {
            let service = service_fn(move |req| record(req, shared.clone()));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    }
}

async fn record(
    req: hyper::Request<hyper::body::Incoming>,
    shared: Arc<Shared>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    lock(&shared.requests).push(Request {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        headers,
        body,
        at: Instant::now(),
    });
    let (status, retry_after) = match *lock(&shared.answer) {
        Answer::Status(s) => (s, None),
        Answer::Busy(secs) => (503, Some(secs)),
        // Switched after this connection was accepted: still answer, as a server
        // being reconfigured would.
        Answer::Hang | Answer::Garbage => (503, None),
    };
    let mut resp = hyper::Response::new(Full::new(Bytes::from(if status < 300 {
        "ok"
    } else {
        "receiver says no"
    })));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(secs) = retry_after {
        resp.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from(secs),
        );
    }
    Ok(resp)
}
