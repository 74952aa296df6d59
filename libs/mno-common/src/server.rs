//! Starting and stopping an HTTP service the same way in both services: the listening address
//! (an IP address or `localhost`), binding with an error that says where the port came from,
//! comparing bearer tokens, and waiting for SIGINT/SIGTERM.

use std::net::{IpAddr, SocketAddr};

/// The listening socket could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} (port from {origin}): {source}")]
pub struct BindError {
    /// The address.
    pub addr: SocketAddr,
    /// Where the port came from (`flag --port`, `file:line:col: port`, `port (default)`).
    pub origin: String,
    /// The OS error.
    pub source: std::io::Error,
}

/// The socket address for `bind` (an IP address, or `localhost` for 127.0.0.1) and `port`.
/// When `bind` is not an IP address the error is `<bind_origin>: not an IP address`;
/// `bind_origin` is only called then.
pub fn listen_addr(
    bind: &str,
    port: u16,
    bind_origin: impl FnOnce() -> String,
) -> Result<SocketAddr, String> {
    let ip: IpAddr = if bind == "localhost" {
        IpAddr::from([127, 0, 0, 1])
    } else {
        bind.parse()
            .map_err(|_| format!("{}: not an IP address", bind_origin()))?
    };
    Ok(SocketAddr::new(ip, port))
}

/// Bind `addr`; a failure (a port in use) names where the port came from
/// (`port_origin`, only called then).
pub async fn bind(
    addr: SocketAddr,
    port_origin: impl FnOnce() -> String,
) -> Result<tokio::net::TcpListener, BindError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| BindError {
            addr,
            origin: port_origin(),
            source,
        })
}

/// Compare in time independent of where the first difference is (bearer tokens).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    diff == 0
}

/// Resolve when SIGINT or SIGTERM arrives.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addr_takes_ips_and_localhost() {
        let never = || -> String { panic!("origin asked for a valid address") };
        assert_eq!(
            listen_addr("localhost", 8000, never).unwrap(),
            "127.0.0.1:8000".parse().unwrap()
        );
        assert_eq!(
            listen_addr("0.0.0.0", 1, never).unwrap(),
            "0.0.0.0:1".parse().unwrap()
        );
        assert_eq!(
            listen_addr("::1", 2, never).unwrap(),
            "[::1]:2".parse().unwrap()
        );
        assert_eq!(
            listen_addr("example.org", 3, || "f.yaml:2:7: bind".into()).unwrap_err(),
            "f.yaml:2:7: bind: not an IP address"
        );
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[tokio::test]
    async fn bind_error_names_the_port_origin() {
        let held = bind("127.0.0.1:0".parse().unwrap(), || unreachable!())
            .await
            .unwrap();
        let addr = held.local_addr().unwrap();
        let e = bind(addr, || "flag --port".into()).await.unwrap_err();
        assert_eq!(e.addr, addr);
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!(
                "cannot listen on {addr} (port from flag --port): "
            )),
            "{msg}"
        );
    }
}
