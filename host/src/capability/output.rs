//! A guest's stdout and stderr: kept for the plugin's log, up to [`CAPTURE`] bytes per stream,
//! instance and transaction. Past that, writes are dropped, never refused: a refused write
//! makes Rust's `print!` panic, and printing must not be able to break a plugin. Each byte
//! kept is handed to the log once (and charged to the log's budget there).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Bytes of a guest's stdout, and of its stderr, kept per instance.
pub const CAPTURE: usize = 4096;

/// One output stream of one instance; clones share the buffer.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Captured>>);

#[derive(Default)]
struct Captured {
    /// Kept and not yet handed to the log.
    pending: Vec<u8>,
    /// Everything the guest wrote, kept or not.
    written: usize,
}

impl Capture {
    /// What the guest wrote (within the cap) since the last call.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut self.0.lock().expect("capture lock").pending)
    }

    /// A new transaction of a kept instance (`reuse`): the cap starts over.
    pub fn begin_transaction(&self) {
        self.0.lock().expect("capture lock").written = 0;
    }

    fn push(&self, bytes: &[u8]) {
        let mut c = self.0.lock().expect("capture lock");
        let room = CAPTURE.saturating_sub(c.written);
        c.pending.extend_from_slice(&bytes[..bytes.len().min(room)]);
        c.written = c.written.saturating_add(bytes.len());
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always room: what does not fit the cap is dropped.
        Ok(64 * 1024)
    }
}

#[async_trait::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_up_to_the_cap_and_hands_each_byte_over_once() {
        let c = Capture::default();
        let mut stream = c.p2_stream();
        stream.write(bytes::Bytes::from_static(b"hello\n")).unwrap();
        assert_eq!(c.take(), b"hello\n");
        assert!(c.take().is_empty());
        stream
            .write(bytes::Bytes::from(vec![b'x'; 10_000]))
            .unwrap();
        assert_eq!(c.take().len(), CAPTURE - 6);
        stream.write(bytes::Bytes::from_static(b"more")).unwrap();
        assert!(c.take().is_empty());
    }
}
