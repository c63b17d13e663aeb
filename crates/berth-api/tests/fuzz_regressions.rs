//! Inputs the fuzz targets once found, kept as tests: each must decode, encode and decode back
//! to the same body, as `fuzz/fuzz_targets/container_create.rs` demands.

fn round_trip(file: &str) {
    let path = format!(
        "{}/tests/fuzz_regressions/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let data = std::fs::read(&path).expect("the regression input is committed");
    let v: serde_json::Value = serde_json::from_slice(&data).expect("the input is JSON");
    let body = berth_api::container::decode(&v).expect("the input decodes");
    let again = serde_json::to_value(&body).expect("a decoded body encodes");
    let back = berth_api::container::decode(&again).expect("an encoded body decodes");
    assert_eq!(back, body, "the body changed on the way back");
}

/// An unknown field inside `EndpointSettings.IPAMConfig` was kept on decode but dropped on
/// encode, so the body changed on its way back.
#[test]
fn unknown_endpoint_ipam_fields_survive_a_round_trip() {
    round_trip("container_create_endpoint_ipam_extra.json");
}
