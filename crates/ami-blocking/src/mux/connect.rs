//! Non-blocking TCP connect: start it, then ask how it ended once the
//! socket is writable.

use std::io;
use std::net::{SocketAddr, TcpStream};

/// Starts a non-blocking TCP connect; `true` when it completed at once.
pub(super) fn connect_nonblocking(addr: SocketAddr) -> io::Result<(TcpStream, bool)> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    sock.set_nodelay(true)?;
    let done = match sock.connect(&SockAddr::from(addr)) {
        Ok(()) => true,
        Err(e) if in_progress(&e) => false,
        Err(e) => return Err(e),
    };
    Ok((TcpStream::from(sock), done))
}

fn in_progress(e: &io::Error) -> bool {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::EINPROGRESS) {
        return true;
    }
    e.kind() == io::ErrorKind::WouldBlock
}

/// How a connect in progress ended: `None` while it goes on.
pub(super) fn connect_result(sock: &TcpStream) -> Option<io::Result<()>> {
    match sock.take_error() {
        Ok(Some(e)) | Err(e) => return Some(Err(e)),
        Ok(None) => {}
    }
    match sock.peer_addr() {
        Ok(_) => Some(Ok(())),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => None,
        Err(e) => Some(Err(e)),
    }
}
