//! A build's output, read as it comes from stdout and stderr, keeping only the last lines.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A line longer than this is cut (the rest up to its newline is dropped).
pub const MAX_LINE: usize = 4096;

/// The last `max` lines of a build's stdout and stderr, interleaved as they arrived.
#[derive(Clone)]
pub struct Tail {
    inner: Arc<Mutex<Lines>>,
}

struct Lines {
    lines: VecDeque<String>,
    max: usize,
    dropped: u64,
}

/// The threads reading a build's streams.
pub struct Readers {
    done: Receiver<()>,
    count: usize,
}

impl Tail {
    /// An empty tail keeping at most `max` lines.
    pub fn new(max: usize) -> Tail {
        Tail {
            inner: Arc::new(Mutex::new(Lines {
                lines: VecDeque::new(),
                max,
                dropped: 0,
            })),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let line = String::from_utf8_lossy(bytes);
        let line = line.trim_end_matches('\r');
        let mut l = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if l.max == 0 {
            l.dropped += 1;
            return;
        }
        if l.lines.len() == l.max {
            l.lines.pop_front();
            l.dropped += 1;
        }
        l.lines.push_back(line.to_string());
    }

    /// Read `streams` to their end on threads of their own, feeding this tail.
    pub fn read_from(
        &self,
        a: Option<impl Read + Send + 'static>,
        b: Option<impl Read + Send + 'static>,
    ) -> Readers {
        let (tx, done) = channel();
        let mut count = 0;
        let mut spawn = |stream: Box<dyn Read + Send>| {
            let tail = self.clone();
            let tx = tx.clone();
            count += 1;
            thread::spawn(move || {
                tail.consume(stream);
                let _ = tx.send(());
            });
        };
        if let Some(a) = a {
            spawn(Box::new(a));
        }
        if let Some(b) = b {
            spawn(Box::new(b));
        }
        Readers { done, count }
    }

    /// Split `stream` into lines, each cut at [`MAX_LINE`] bytes.
    fn consume(&self, mut stream: Box<dyn Read + Send>) {
        let mut buf = [0u8; 8192];
        let mut line: Vec<u8> = Vec::new();
        let mut cut = false;
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for chunk in buf[..n].split_inclusive(|&b| b == b'\n') {
                let (body, ends) = match chunk.strip_suffix(b"\n") {
                    Some(b) => (b, true),
                    None => (chunk, false),
                };
                if !cut {
                    let room = MAX_LINE - line.len();
                    line.extend_from_slice(&body[..body.len().min(room)]);
                    cut = body.len() > room;
                }
                if ends {
                    self.push(&line);
                    line.clear();
                    cut = false;
                }
            }
        }
        if !line.is_empty() {
            self.push(&line);
        }
    }

    /// The kept lines, after a note on how many came before them.
    pub fn text(&self) -> String {
        let l = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        if l.dropped > 0 && l.max > 0 {
            out.push_str(&format!("… ({} earlier lines)\n", l.dropped));
        }
        for line in &l.lines {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

impl Readers {
    /// Wait up to `limit` for the streams to close; a reader held open by a process that
    /// left the build's group is abandoned (it ends when that process does).
    pub fn finish(self, limit: Duration) {
        let deadline = Instant::now() + limit;
        for _ in 0..self.count {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.done.recv_timeout(left).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_and_cuts_long_ones() {
        let tail = Tail::new(2);
        let long = "x".repeat(MAX_LINE + 10);
        let text = format!("one\r\ntwo\n{long}\nthree");
        let r = tail.read_from(
            Some(std::io::Cursor::new(text.into_bytes())),
            None::<std::io::Empty>,
        );
        r.finish(Duration::from_secs(5));
        let out = tail.text();
        assert_eq!(
            out,
            format!("… (2 earlier lines)\n{}\nthree\n", "x".repeat(MAX_LINE))
        );
    }

    #[test]
    fn zero_lines_keeps_nothing() {
        let tail = Tail::new(0);
        let r = tail.read_from(
            Some(std::io::Cursor::new(b"a\nb\n".to_vec())),
            None::<std::io::Empty>,
        );
        r.finish(Duration::from_secs(5));
        assert_eq!(tail.text(), "");
    }
}
