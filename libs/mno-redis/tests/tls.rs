//! `rediss://` against a real redis-server with TLS on: a certificate from a private CA is
//! accepted with `redis.ca_file` and refused without it (so the certificate is really checked),
//! for both the async connection manager and the synchronous connection.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mno_redis::{RedisConfig, SyncConn};

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run openssl");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made with the openssl CLI.
fn make_certs(dir: &Path, openssl: &Path) {
    let d = |f: &str| dir.join(f);
    run(Command::new(openssl)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=mno test CA"])
        .arg("-keyout")
        .arg(d("ca.key"))
        .arg("-out")
        .arg(d("ca.pem")));
    run(Command::new(openssl)
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(d("server.key"))
        .arg("-out")
        .arg(d("server.csr")));
    std::fs::write(d("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(Command::new(openssl)
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(d("server.csr"))
        .arg("-CA")
        .arg(d("ca.pem"))
        .arg("-CAkey")
        .arg(d("ca.key"))
        .arg("-extfile")
        .arg(d("ext.cnf"))
        .arg("-out")
        .arg(d("server.pem")));
}

#[test]
fn rediss_with_a_private_ca_connects_and_an_untrusted_certificate_is_refused() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (Some(redis), Some(openssl)) = (
        mno_testkit::tool("redis-server"),
        mno_testkit::tool("openssl"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path(), &openssl);
    let port = mno_testkit::free_port();
    let _server = Kill(
        Command::new(redis)
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--tls-cert-file")
            .arg(dir.path().join("server.pem"))
            .arg("--tls-key-file")
            .arg(dir.path().join("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(dir.path().join("ca.pem"))
            .args(["--tls-auth-clients", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server"),
    );
    let trusted = RedisConfig {
        url: Some(format!("rediss://127.0.0.1:{port}")),
        ca_file: Some(dir.path().join("ca.pem").display().to_string()),
        ..Default::default()
    };
    assert_eq!(trusted.validate("redis."), Ok(()));

    // Synchronous connection (the SuperAgent's store): retried while the server starts.
    let conn = SyncConn::new(&trusted).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let pong: String = loop {
        match conn.with(|c| redis::cmd("PING").query(c)) {
            Ok(p) => break p,
            Err(e) if Instant::now() > deadline => panic!("TLS PING failed: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    assert_eq!(pong, "PONG");
    conn.with(|c| redis::cmd("SET").arg("k").arg("over-tls").query::<()>(c))
        .unwrap();

    // The async connection manager (both services' sinks and streams).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let got: String = rt.block_on(async {
        let mut m = trusted.manager().unwrap();
        redis::cmd("GET")
            .arg("k")
            .query_async(&mut m)
            .await
            .unwrap()
    });
    assert_eq!(got, "over-tls");

    // Without the CA the server's certificate is not trusted: no connection.
    let untrusted = RedisConfig {
        ca_file: None,
        ..trusted.clone()
    };
    let e = SyncConn::new(&untrusted)
        .unwrap()
        .with(|c| redis::cmd("PING").query::<String>(c))
        .expect_err("a certificate from an unknown CA must be refused");
    let text = e.to_string().to_lowercase();
    assert!(
        text.contains("certificate") || text.contains("unknown") || text.contains("tls"),
        "{e}"
    );

    // A CA file that cannot be read is a configuration error naming the key.
    let missing = RedisConfig {
        ca_file: Some(dir.path().join("nope.pem").display().to_string()),
        ..trusted
    };
    let (key, msg) = missing.validate("redis.").unwrap_err();
    assert_eq!(key, "redis.ca_file");
    assert!(msg.contains("nope.pem"), "{msg}");
}
