//! Framing: a 4-byte big-endian length (at most [`MAX_FRAME`]) and that many bytes.

use std::fmt;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use zeroize::Zeroize;

use super::MAX_FRAME;

/// The most a frame's buffer holds beyond the bytes that have arrived: the announced
/// length is not allocated up front, so a peer that announces a large frame and sends
/// little of it costs little memory.
const FRAME_CHUNK: usize = 64 * 1024;

/// Why reading a frame failed.
#[derive(Debug)]
pub enum FrameError {
    /// The peer closed the connection cleanly between frames.
    Closed,
    /// The frame announced more than [`MAX_FRAME`] bytes.
    TooLarge(usize),
    /// Transport failure.
    Io(std::io::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Closed => f.write_str("connection closed"),
            FrameError::TooLarge(n) => {
                write!(f, "frame of {n} bytes is over the limit of {MAX_FRAME}")
            }
            FrameError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Reads one frame body.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>, FrameError> {
    let mut first = [0u8; 1];
    match r.read_exact(&mut first).await {
        Ok(_) => read_frame_after(r, first[0]).await,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(FrameError::Closed),
        Err(e) => Err(FrameError::Io(e)),
    }
}

/// Reads the rest of a frame whose first byte, `first`, has arrived: a server awaits that
/// byte with its idle timeout and the rest with its frame timeout, without a read buffer
/// of its own (which would keep a copy of every frame, passwords included).
pub async fn read_frame_after<R: AsyncRead + Unpin>(
    r: &mut R,
    first: u8,
) -> Result<Vec<u8>, FrameError> {
    let mut len = [first, 0, 0, 0];
    r.read_exact(&mut len[1..]).await.map_err(FrameError::Io)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    let mut body = Vec::new();
    read_body(r, len, &mut body).await?;
    Ok(body)
}

/// Reads `len` bytes into `body`, growing it as they arrive: its capacity is at most
/// [`FRAME_CHUNK`] or twice the bytes read, whichever is more. A buffer it outgrows is zeroed before it is
/// freed (a frame may hold a password).
async fn read_body<R: AsyncRead + Unpin>(
    r: &mut R,
    len: usize,
    body: &mut Vec<u8>,
) -> Result<(), FrameError> {
    body.clear();
    body.reserve_exact(len.min(FRAME_CHUNK));
    while body.len() < len {
        if body.len() == body.capacity() {
            let wanted = (body.capacity() * 2).max(FRAME_CHUNK).min(len);
            let mut bigger = Vec::with_capacity(wanted);
            bigger.extend_from_slice(body);
            body.zeroize();
            *body = bigger;
        }
        let start = body.len();
        let end = body.capacity().min(len);
        body.resize(end, 0);
        match r.read(&mut body[start..end]).await {
            Ok(0) => {
                body.truncate(start);
                return Err(FrameError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the connection closed after {start} of the frame's {len} bytes"),
                )));
            }
            Ok(n) => body.truncate(start + n),
            Err(e) => {
                body.truncate(start);
                return Err(FrameError::Io(e));
            }
        }
    }
    Ok(())
}

/// Writes one frame and flushes it.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, body: &[u8]) -> std::io::Result<()> {
    if body.len() > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "frame of {} bytes is over the limit of {MAX_FRAME}",
                body.len()
            ),
        ));
    }
    // The body may hold a password: the copy is zeroed when dropped.
    let mut buf = zeroize::Zeroizing::new(Vec::with_capacity(4 + body.len()));
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(body);
    w.write_all(&buf).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_oversized_frames_are_refused() {
        let (mut a, mut b) = tokio::io::duplex(4096);
        write_frame(&mut a, b"{\"x\":1}").await.unwrap();
        assert_eq!(read_frame(&mut b).await.unwrap(), b"{\"x\":1}");
        let len = ((MAX_FRAME + 1) as u32).to_be_bytes();
        tokio::io::AsyncWriteExt::write_all(&mut a, &len)
            .await
            .unwrap();
        assert!(matches!(
            read_frame(&mut b).await,
            Err(FrameError::TooLarge(_))
        ));
        drop(a);
        assert!(matches!(read_frame(&mut b).await, Err(FrameError::Closed)));
    }

    #[tokio::test]
    async fn a_large_frame_arriving_in_pieces_is_read_whole() {
        let body: Vec<u8> = (0..MAX_FRAME).map(|i| (i % 251) as u8).collect();
        let (mut a, mut b) = tokio::io::duplex(1000);
        let sent = body.clone();
        let writer = tokio::spawn(async move { write_frame(&mut a, &sent).await });
        assert_eq!(read_frame(&mut b).await.unwrap(), body);
        writer.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn an_announced_length_is_not_allocated_before_its_bytes_arrive() {
        // 1 MiB announced, 10 bytes sent, then the peer closes.
        let mut input = (MAX_FRAME as u32).to_be_bytes().to_vec();
        input.extend_from_slice(b"0123456789");
        let mut r = input.as_slice();
        let mut len = [0u8; 4];
        r.read_exact(&mut len).await.unwrap();
        let mut body = Vec::new();
        let err = read_body(&mut r, u32::from_be_bytes(len) as usize, &mut body)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("after 10 of"), "{err}");
        assert!(
            body.capacity() <= FRAME_CHUNK,
            "the buffer holds {} bytes for 10 received",
            body.capacity()
        );

        // Through the public reader: no read is offered more than a chunk at a time.
        let mut counted = Counted {
            inner: &input[..],
            largest: 0,
        };
        assert!(read_frame(&mut counted).await.is_err());
        assert!(counted.largest <= FRAME_CHUNK, "{}", counted.largest);
    }

    /// A reader that records the largest buffer it was asked to fill.
    struct Counted<'a> {
        inner: &'a [u8],
        largest: usize,
    }

    impl AsyncRead for Counted<'_> {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            self.largest = self.largest.max(buf.remaining());
            std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }
}
