//! The one way the agent's listening socket is bound, shared by the agent and `tentacle check`
//! so the port check sees exactly what the agent would: `[::]` with `IPV6_V6ONLY` cleared
//! (dual-stack), else `0.0.0.0`, or a configured listen IP as given.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

use super::Communication;

/// Why the listening socket could not be bound.
#[derive(Debug)]
pub struct BindFailure {
    /// The last address tried.
    pub address: SocketAddr,
    /// What the OS said.
    pub source: io::Error,
}

impl BindFailure {
    /// True when another socket holds the port (the agent reports this apart).
    pub fn in_use(&self) -> bool {
        self.source.kind() == io::ErrorKind::AddrInUse
    }
}

impl Communication {
    /// Binds and listens where the agent listens, trying [`Communication::listen_addresses`]
    /// in order. An unspecified IPv6 address is bound dual-stack, with `IPV6_V6ONLY` set off
    /// explicitly: Windows defaults it on, and so does Linux with `net.ipv6.bindv6only=1`,
    /// which would leave IPv4 Octopus Servers refused. A port in use stops the search at once
    /// (falling back to IPv4 would only hide it); a machine without IPv6 falls back to
    /// `0.0.0.0`. The listener is blocking; the agent switches it for tokio.
    pub fn bind_listener(&self) -> Result<TcpListener, BindFailure> {
        let mut last = None;
        for address in self.listen_addresses() {
            match bind_one(address) {
                Ok(listener) => return Ok(listener),
                Err(source) => {
                    let failure = BindFailure { address, source };
                    if failure.in_use() {
                        return Err(failure);
                    }
                    tracing::debug!(%address, error = %failure.source, "could not listen here; trying the next address");
                    last = Some(failure);
                }
            }
        }
        Err(last.unwrap_or_else(|| BindFailure {
            address: SocketAddr::from(([0, 0, 0, 0], self.port)),
            source: io::Error::new(io::ErrorKind::AddrNotAvailable, "no address to listen on"),
        }))
    }
}

fn bind_one(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    // If the OS will not clear it, this socket would refuse IPv4: fail so the caller falls
    // back to 0.0.0.0 rather than silently serving IPv6 only.
    if let IpAddr::V6(ip) = address.ip()
        && ip.is_unspecified()
    {
        socket.set_only_v6(false)?;
    }
    // As std does on Unix: a restarted agent may rebind while old connections sit in
    // TIME_WAIT. Never on Windows, where SO_REUSEADDR lets another program steal the port.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr, TcpStream};

    fn on(port: u16, listen_ip: Option<&str>) -> Communication {
        Communication {
            port,
            listen_ip: listen_ip.map(str::to_owned),
            ..Communication::default()
        }
    }

    fn ipv6_loopback_works() -> bool {
        std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
    }

    #[test]
    fn unspecified_listener_accepts_ipv4_and_ipv6() {
        let listener = on(0, None).bind_listener().unwrap();
        let local = listener.local_addr().unwrap();
        TcpStream::connect((Ipv4Addr::LOCALHOST, local.port())).unwrap();
        if ipv6_loopback_works() {
            assert!(local.is_ipv6(), "{local}");
            TcpStream::connect((Ipv6Addr::LOCALHOST, local.port())).unwrap();
        }
    }

    #[test]
    fn configured_ip_is_used_as_given() {
        let listener = on(0, Some("127.0.0.1")).bind_listener().unwrap();
        let local = listener.local_addr().unwrap();
        assert_eq!(local.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        if ipv6_loopback_works() {
            assert!(TcpStream::connect((Ipv6Addr::LOCALHOST, local.port())).is_err());
        }
    }

    #[test]
    fn port_in_use_is_reported_not_hidden_by_the_fallback() {
        let held = on(0, None).bind_listener().unwrap();
        let port = held.local_addr().unwrap().port();
        let failure = on(port, None).bind_listener().unwrap_err();
        assert!(failure.in_use(), "{:?}", failure.source);
    }
}
