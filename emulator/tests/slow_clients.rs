//! Slow, idle and too many clients over TLS: a frame has a deadline once it has begun, a
//! connection an idle timeout between requests, and a node a cap on open connections.

mod common;

use std::time::{Duration, Instant};

use cloudhsm_mfa::proto::{Op, Reply};
use cloudhsm_mfa_emulator::ServerOptions;
use common::*;

const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(30);
/// How long a test waits for something that should happen after [`SHORT`].
const BOUND: Duration = Duration::from_secs(5);

fn options(frame: Duration, idle: Duration, max_connections: usize) -> ServerOptions {
    ServerOptions {
        frame_timeout: frame,
        idle_timeout: idle,
        max_connections,
        ..ServerOptions::default()
    }
}

#[test]
fn a_stalled_partial_frame_is_dropped_after_the_frame_deadline() {
    let (_dir, cluster) = activated_cluster(1, options(SHORT, LONG, 16));
    let (addr, ca) = (cluster.addr(0).unwrap(), cluster.ca_path());
    block_on(async {
        let mut c = Client::greeted(addr, &ca).await;
        // 1000 bytes announced, 10 sent, then nothing.
        c.send_bytes(&1000u32.to_be_bytes()).await;
        c.send_bytes(b"{\"id\": 1, ").await;
        let start = Instant::now();
        assert!(c.closed_within(BOUND).await, "the stalled frame was kept");
        let waited = start.elapsed();
        assert!(waited >= SHORT - Duration::from_millis(50), "{waited:?}");

        // Trickling bytes does not extend the deadline: it is for the whole frame.
        let mut c = Client::greeted(addr, &ca).await;
        c.send_bytes(&1000u32.to_be_bytes()).await;
        let start = Instant::now();
        let closed = loop {
            if c.closed_within(Duration::from_millis(50)).await {
                break true;
            }
            if start.elapsed() > BOUND {
                break false;
            }
            if c.try_send_bytes(b" ").await.is_err() {
                break true;
            }
        };
        assert!(closed, "a trickling frame was kept");
        assert!(start.elapsed() < BOUND);

        // The node goes on serving.
        let mut c = Client::admin(addr, &ca).await;
        assert!(matches!(
            c.request(Op::ListUsers).await,
            Reply::Users { .. }
        ));
    });
}

#[test]
fn an_idle_connection_is_closed_after_the_idle_timeout_and_a_busy_one_is_not() {
    let (_dir, cluster) = activated_cluster(1, options(LONG, SHORT, 16));
    let (addr, ca) = (cluster.addr(0).unwrap(), cluster.ca_path());
    block_on(async {
        // Requests closer together than the idle timeout keep the connection.
        let mut busy = Client::greeted(addr, &ca).await;
        for _ in 0..6 {
            tokio::time::sleep(SHORT / 3).await;
            assert!(matches!(
                busy.request(Op::ListUsers).await,
                Reply::Users { .. }
            ));
        }
        let start = Instant::now();
        assert!(
            busy.closed_within(BOUND).await,
            "the idle connection stayed"
        );
        let waited = start.elapsed();
        assert!(waited >= SHORT - Duration::from_millis(50), "{waited:?}");
    });
}

#[test]
fn at_the_cap_a_new_connection_is_refused_at_once_and_served_once_a_slot_frees() {
    let (_dir, cluster) = activated_cluster(1, options(LONG, LONG, 2));
    let (addr, ca) = (cluster.addr(0).unwrap(), cluster.ca_path());
    block_on(async {
        let first = Client::greeted(addr, &ca).await;
        let mut second = Client::greeted(addr, &ca).await;
        let start = Instant::now();
        let refused = tokio::time::timeout(BOUND, async {
            match Client::connect(addr, &ca).await {
                Err(_) => true,
                // The handshake may complete on the client's side before it reads the close.
                Ok(mut c) => c.try_request(Op::hello()).await.is_err(),
            }
        })
        .await
        .expect("the connection over the cap was neither served nor refused");
        assert!(refused, "a connection over the cap was served");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "not refused at once"
        );
        // The connections within the cap are served as before.
        assert!(matches!(
            second.request(Op::ListUsers).await,
            Reply::Users { .. }
        ));

        drop(first);
        let start = Instant::now();
        let served = loop {
            if let Ok(mut c) = Client::connect(addr, &ca).await {
                if let Ok(Reply::Hello { .. }) = c.try_request(Op::hello()).await {
                    break true;
                }
            }
            if start.elapsed() > BOUND {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(served, "no slot freed after a connection closed");
    });
}
