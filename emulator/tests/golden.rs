//! The emulator reads every request of the protocol's golden file (tests/golden/protocol.json
//! at the workspace root, which the library pins) as sent, byte for byte, over TLS: each
//! is answered with its own id, never as a bad request or an unknown operation.

mod common;

use cloudhsm_mfa::proto::{ErrorCode, Reply};
use cloudhsm_mfa_emulator::ServerOptions;
use common::*;

#[test]
fn every_golden_request_is_read_and_answered_by_a_node() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/protocol.json");
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let requests = golden["requests"].as_array().unwrap();
    assert!(requests.len() >= 12, "{}", requests.len());
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    let (addr, ca) = (cluster.addr(0).unwrap(), cluster.ca_path());
    block_on(async {
        // Logged in as the admin, so that every operation reaches its own rules; the
        // connection's hello (with this library's features) is the client's own, so the
        // golden hello, whose feature is made up, is not sent again.
        let mut c = Client::admin(addr, &ca).await;
        for request in requests.iter().filter(|r| r["op"] != "hello") {
            c.send_raw(serde_json::to_string(request).unwrap().as_bytes())
                .await;
            let response = c.receive().await.unwrap();
            assert_eq!(response.id, request["id"].as_u64().unwrap(), "{request}");
            if let Reply::Error { code, message, .. } = &response.reply {
                assert!(
                    !matches!(code, ErrorCode::BadRequest | ErrorCode::UnknownOperation),
                    "{request}: {code:?} {message}"
                );
            }
        }
    });
}
