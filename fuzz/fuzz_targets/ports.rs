//! `-p` and `--expose` specs, as `berth run` and the API take them: any text gives a binding
//! or an error, never a panic, and what parses is consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(bindings) = berth_api::ports::parse_publish(text) {
        for b in &bindings {
            // A host port that parsed is a number or a range of them.
            assert!(
                b.host_port.is_empty()
                    || b.host_port
                        .split('-')
                        .all(|p| p.parse::<u16>().is_ok()),
                "{text:?} gave host port {:?}",
                b.host_port
            );
        }
    }
    let _ = berth_api::ports::parse_expose(text);
    let (publish, expose): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| l.contains(':'));
    let publish: Vec<String> = publish.into_iter().map(String::from).collect();
    let expose: Vec<String> = expose.into_iter().map(String::from).collect();
    let _ = berth_api::ports::port_maps(&publish, &expose);
});
