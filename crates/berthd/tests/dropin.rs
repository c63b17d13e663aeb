//! The stock docker CLI's own logic against berthd's answers: errors it must show as they are
//! (not as a missing image it then tries to pull).

mod common;

use common::{fails, ok, Host};

#[test]
fn missing_network_or_link_is_reported_not_pulled() {
    let h = Host::with_busybox();
    for (flags, want) in [
        (&["--network", "nosuchnet"][..], "network nosuchnet not found"),
        (&["--link", "nosuchctr"][..], "could not get container for nosuchctr"),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(flags);
        a.extend_from_slice(&["busybox", "true"]);
        let (code, err) = fails(h.docker(&a));
        assert_eq!(code, 125, "{err}");
        assert!(err.contains(want), "{flags:?}: {err}");
        assert!(!err.contains("Unable to find image"), "the CLI must not try to pull: {err}");
    }
    // A missing image is still a 404, so the CLI still tries to pull it.
    let (_, err) = fails(h.docker(&["run", "--rm", "nosuchimage", "true"]));
    assert!(err.contains("Unable to find image 'nosuchimage:latest' locally"), "{err}");
    assert_eq!(ok(h.docker(&["ps", "-aq"])).trim(), "", "failed runs leave nothing");
}
