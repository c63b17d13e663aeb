//! Arbitrary bytes as a `POST /containers/create` body: decoding into berth's typed model and
//! the daemon-independent checks must never panic, and whatever decodes must read back the
//! same after the CLI's encoding.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(body) = berth_api::container::decode(&v) else {
        return;
    };
    // Refusals are answers; only a panic is a finding.
    let _ = berth_api::container::check(&body);
    let again = serde_json::to_value(&body).expect("a decoded body encodes");
    let back = berth_api::container::decode(&again).expect("an encoded body decodes");
    assert_eq!(back, body, "the body changed on the way back");
});
