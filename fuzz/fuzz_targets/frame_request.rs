//! The frame reader and the request and response decoders on any bytes: never a panic, a
//! frame is never longer than the limit, and a request that decodes encodes back to a
//! request with the same operation.
#![no_main]

use cloudhsm_mfa::proto::{read_frame, Request, Response, MAX_FRAME};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut reader = data;
    if let Ok(frame) = rt.block_on(read_frame(&mut reader)) {
        assert!(frame.len() <= MAX_FRAME);
    }
    if let Ok(request) = serde_json::from_slice::<Request>(data) {
        let text = serde_json::to_vec(&request).unwrap();
        let again: Request = serde_json::from_slice(&text).expect("what was written reads");
        assert_eq!(again.op.name(), request.op.name());
    }
    let _ = serde_json::from_slice::<Response>(data);
});
