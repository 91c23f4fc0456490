//! A tiny HTTP/1.1 responder for `GET /metrics` and `GET /health`: one
//! request per connection, a bounded head read within a timeout, then
//! `Connection: close`. Enough for Prometheus and a load balancer's probe,
//! and nothing else (no keep-alive, no body, no chunking).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The largest request head read; a longer one gets 431.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What a route answers: status line, content type, body.
pub(crate) type Answer = (&'static str, &'static str, String);

/// Answers one path.
pub(crate) trait Routes: Send + Sync + 'static {
    /// The answer to `GET path`, or `None` for 404.
    fn get(&self, path: &str) -> Option<Answer>;
}

/// Binds `addr`; the listener is served by [`serve`].
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `listener` until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, routes: Arc<dyn Routes>) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            // Out of descriptors or similar: wait a little, do not spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let routes = routes.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(READ_TIMEOUT, answer(sock, &*routes)).await;
        });
    }
}

/// Reads one request head and writes the answer.
async fn answer(mut sock: TcpStream, routes: &dyn Routes) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_HEAD {
            return write(
                &mut sock,
                (
                    "431 Request Header Fields Too Large",
                    "text/plain",
                    String::new(),
                ),
            )
            .await;
        }
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let reply = match (method, routes.get(path)) {
        ("GET", Some(answer)) => answer,
        ("GET", None) => ("404 Not Found", "text/plain", "not found\n".into()),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    write(&mut sock, reply).await
}

async fn write(sock: &mut TcpStream, (status, kind, body): Answer) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(body.as_bytes()).await?;
    sock.shutdown().await
}
