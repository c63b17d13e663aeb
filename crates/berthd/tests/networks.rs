//! Networks end to end: a real berthd in a throwaway namespace, driven by berth, the stock
//! docker CLI and raw API calls, with the kernel checked directly.

mod common;

use common::{fails, ok, Host};
use serde_json::Value;

fn short(id: &str) -> &str {
    &id[..12]
}

#[test]
fn default_networks_exist_with_a_real_bridge() {
    let h = Host::new();
    let ls = ok(h.berth(&[
        "network",
        "ls",
        "--format",
        "{{.Name}} {{.Driver}} {{.Scope}}",
    ]));
    assert_eq!(
        ls,
        "bridge bridge local\nhost host local\nnone null local\n"
    );
    assert_eq!(h.addrs("berth0"), vec!["172.17.0.1/16"]);
    let link = h.link("berth0").expect("berth0");
    assert_eq!(link["linkinfo"]["info_kind"], "bridge");
    assert_eq!(link["mtu"], 1500);
    assert!(link["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
    assert_eq!(h.sh("cat /proc/sys/net/ipv4/ip_forward").trim(), "1");
    let (code, v) = h.api("GET", "/networks/bridge", None);
    assert_eq!(code, 200);
    assert_eq!(v["Options"]["com.docker.network.bridge.name"], "berth0");
    assert_eq!(
        v["Options"]["com.docker.network.bridge.default_bridge"],
        "true"
    );
    assert_eq!(v["IPAM"]["Config"][0]["Gateway"], "172.17.0.1");
    assert_eq!(v["Id"].as_str().unwrap().len(), 64);
}

#[test]
fn create_inspect_and_remove_make_and_delete_the_bridge() {
    let h = Host::new();
    let id = ok(h.berth(&[
        "network",
        "create",
        "--subnet",
        "192.168.0.0/16",
        "--gateway",
        "192.168.0.1",
        "--ip-range",
        "192.168.5.0/24",
        "--aux-address",
        "router=192.168.0.2",
        "--label",
        "tier=web",
        "-o",
        "com.docker.network.driver.mtu=1400",
        "--attachable",
        "mynet",
    ]))
    .trim()
    .to_string();
    assert_eq!(id.len(), 64, "create prints the ID: {id}");
    let bridge = format!("br-{}", short(&id));
    assert_eq!(h.addrs(&bridge), vec!["192.168.0.1/16"]);
    assert_eq!(h.link(&bridge).unwrap()["mtu"], 1400);

    let out = ok(h.berth(&["network", "inspect", "mynet"]));
    assert!(
        out.starts_with("[\n    {\n        \"Name\": \"mynet\""),
        "{out}"
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    let n = &v[0];
    assert_eq!(n["Id"], id.as_str());
    assert_eq!(n["Driver"], "bridge");
    assert_eq!(n["Scope"], "local");
    assert_eq!(n["Attachable"], true);
    assert_eq!(n["Labels"]["tier"], "web");
    assert_eq!(n["Options"]["com.docker.network.driver.mtu"], "1400");
    let cfg = &n["IPAM"]["Config"][0];
    assert_eq!(cfg["Subnet"], "192.168.0.0/16");
    assert_eq!(cfg["Gateway"], "192.168.0.1");
    assert_eq!(cfg["IPRange"], "192.168.5.0/24");
    assert_eq!(cfg["AuxiliaryAddresses"]["router"], "192.168.0.2");
    assert_eq!(n["Containers"], serde_json::json!({}));

    // Lookup by ID prefix, and the template formatter.
    let sub = ok(h.berth(&[
        "network",
        "inspect",
        "-f",
        "{{json .IPAM.Config}}",
        &id[..6],
    ]));
    assert!(sub.contains("192.168.0.0/16"));

    assert_eq!(ok(h.berth(&["network", "rm", "mynet"])), "mynet\n");
    assert!(
        h.wait_link_gone(&bridge),
        "bridge removed with the network:\n{}",
        h.log()
    );
    let (code, err) = fails(h.berth(&["network", "inspect", "mynet"]));
    assert_eq!(code, 1);
    assert!(err.contains("No such network: mynet"), "{err}");
}

#[test]
fn auto_subnets_follow_the_default_pools_and_skip_host_routes() {
    let h = Host::new();
    // Something on the host already uses 172.18.0.0/24: that pool must be skipped.
    h.sh("ip link add hostveth type veth peer name hostpeer && ip addr add 172.18.0.1/24 dev hostveth && ip link set hostveth up && ip link set hostpeer up");
    let a = ok(h.berth(&["network", "create", "a"]));
    let b = ok(h.berth(&["network", "create", "b"]));
    let subnet = |n: &str| {
        ok(h.berth(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Subnet}}",
            n,
        ]))
    };
    let _ = subnet;
    let get = |n: &str| -> Value { h.api("GET", &format!("/networks/{n}"), None).1 };
    assert_eq!(get("a")["IPAM"]["Config"][0]["Subnet"], "172.19.0.0/16");
    assert_eq!(get("a")["IPAM"]["Config"][0]["Gateway"], "172.19.0.1");
    assert_eq!(get("b")["IPAM"]["Config"][0]["Subnet"], "172.20.0.0/16");
    assert_eq!(
        h.addrs(&format!("br-{}", short(a.trim()))),
        vec!["172.19.0.1/16"]
    );
    assert_eq!(
        h.addrs(&format!("br-{}", short(b.trim()))),
        vec!["172.20.0.1/16"]
    );
}

#[test]
fn custom_bip_and_address_pools_and_exhaustion() {
    let h = Host::with_args(&[
        "--bip",
        "10.55.0.1/24",
        "--default-address-pool",
        "base=10.66.0.0/23,size=24",
    ]);
    assert_eq!(h.addrs("berth0"), vec!["10.55.0.1/24"]);
    ok(h.berth(&["network", "create", "one"]));
    ok(h.berth(&["network", "create", "two"]));
    let (_, v) = h.api("GET", "/networks/two", None);
    assert_eq!(v["IPAM"]["Config"][0]["Subnet"], "10.66.1.0/24");
    let links_before = h.links();
    let (code, err) = fails(h.berth(&["network", "create", "three"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("could not find an available, non-overlapping IPv4 address pool"),
        "{err}"
    );
    assert_eq!(h.links(), links_before);
}

#[test]
fn ipv6_network_has_both_gateways() {
    let h = Host::new();
    let id = ok(h.berth(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:1:2::/64",
        "six",
    ]));
    let bridge = format!("br-{}", short(id.trim()));
    let addrs = h.addrs(&bridge);
    assert!(addrs.contains(&"172.18.0.1/16".to_string()), "{addrs:?}");
    assert!(addrs.contains(&"fd00:1:2::1/64".to_string()), "{addrs:?}");
    let (_, v) = h.api("GET", "/networks/six", None);
    assert_eq!(v["EnableIPv6"], true);
    // Without a v6 subnet, one comes from berth's ULA pool.
    ok(h.berth(&["network", "create", "--ipv6", "six2"]));
    let (_, v) = h.api("GET", "/networks/six2", None);
    let subnets: Vec<&str> = v["IPAM"]["Config"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Subnet"].as_str().unwrap())
        .collect();
    assert_eq!(subnets, ["172.19.0.0/16", "fd42:b3e7:c0de::/64"]);
}

#[test]
fn bad_input_gets_dockers_status_and_changes_nothing() {
    let h = Host::new();
    ok(h.berth(&["network", "create", "--subnet", "192.168.0.0/16", "mynet"]));
    let before_links = h.links();
    let (_, before) = h.api("GET", "/networks", None);
    let create = |body: &str| h.api("POST", "/v1.51/networks/create", Some(body));
    let cases: &[(&str, u16, &str)] = &[
        (
            r#"{"Name":"x","IPAM":{"Config":[{"Subnet":"192.168.1.0/24"}]}}"#,
            403,
            "Pool overlaps with other one on this address space",
        ),
        (
            r#"{"Name":"x","IPAM":{"Config":[{"Subnet":"172.17.5.0/24"}]}}"#,
            403,
            "Pool overlaps",
        ),
        (
            r#"{"Name":"mynet"}"#,
            409,
            "network with name mynet already exists",
        ),
        (
            r#"{"Name":"x","IPAM":{"Config":[{"Subnet":"10.50.0.0/33"}]}}"#,
            400,
            "Invalid subnet 10.50.0.0/33 : invalid CIDR address: 10.50.0.0/33",
        ),
        (
            r#"{"Name":"x","IPAM":{"Config":[{"Subnet":"notacidr"}]}}"#,
            400,
            "invalid CIDR address: notacidr",
        ),
        (
            r#"{"Name":"x","IPAM":{"Config":[{"Subnet":"10.50.0.0/24","Gateway":"10.51.0.1"}]}}"#,
            400,
            "no matching subnet for gateway 10.51.0.1",
        ),
        (
            r#"{"Name":"x","IPAM":{"Config":[{"Subnet":"10.50.0.0/24","Gateway":"banana"}]}}"#,
            400,
            "banana",
        ),
        (
            r#"{"Name":"x","IPAM":{"Config":[{"Subnet":"10.60.0.0/24","IPRange":"10.61.0.0/24"}]}}"#,
            400,
            "no matching subnet for range 10.61.0.0/24",
        ),
        (
            r#"{"Name":"x","Driver":"nosuchdriver"}"#,
            404,
            "plugin \"nosuchdriver\" not found",
        ),
        (
            r#"{"Name":"host"}"#,
            403,
            "operation is not permitted on predefined host network",
        ),
        (
            r#"{"Name":"x","Options":{"com.docker.network.driver.mtu":"abc"}}"#,
            400,
            "abc",
        ),
        (
            r#"{"Name":"x","Options":{"com.docker.network.bridge.enable_icc":"perhaps"}}"#,
            400,
            "perhaps",
        ),
        (
            r#"{"Name":"x","Options":{"com.docker.network.bridge.name":"lo"}}"#,
            409,
            "lo already exists",
        ),
        (r#"{"Name":"bad/name"}"#, 400, "invalid network name"),
        (r#"{"Name":""}"#, 400, "name is required"),
        (r#"{"Name":"x""#, 400, "invalid JSON"),
        ("", 400, "body is empty"),
    ];
    for (body, status, needle) in cases {
        let (code, v) = create(body);
        let msg = v["message"].as_str().unwrap_or_default();
        assert_eq!(code, *status, "{body}: {msg}");
        assert!(msg.contains(needle), "{body}: wanted {needle:?} in {msg:?}");
    }
    assert_eq!(h.api("GET", "/networks", None).1, before);
    assert_eq!(h.links(), before_links);

    let (code, v) = h.api("DELETE", "/networks/bridge", None);
    assert_eq!(
        (code, v["message"].as_str().unwrap()),
        (403, "bridge is a pre-defined network and cannot be removed")
    );
    let (code, _) = h.api("DELETE", "/networks/nosuchnet", None);
    assert_eq!(code, 404);
    let (code, _) = h.api("GET", "/networks/nosuchnet", None);
    assert_eq!(code, 404);
    let (code, v) = h.api(
        "GET",
        "/networks?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D",
        None,
    );
    assert_eq!(code, 400, "{v}");
    // The CLI prints the daemon's message and exits 1.
    let (code, err) = fails(h.berth(&["network", "create", "--subnet", "192.168.1.0/24", "x"]));
    assert_eq!((code, err.trim()), (1, "Error response from daemon: Pool overlaps with other one on this address space: 192.168.1.0/24 overlaps 192.168.0.0/16 of network mynet"));
    let (code, err) = fails(h.berth(&["network", "create", "--gateway", "10.50.0.1", "x"]));
    assert_eq!(
        (code, err.trim()),
        (
            1,
            "every ip-range or gateway must have a corresponding subnet"
        )
    );
}

#[test]
fn stock_docker_cli_drives_berthd() {
    let h = Host::new();
    let version = ok(h.docker(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.Os}}",
    ]));
    assert_eq!(version.trim(), "1.51 linux");
    let id = ok(h.docker(&[
        "network",
        "create",
        "--subnet",
        "10.70.0.0/24",
        "--label",
        "k=v",
        "dnet",
    ]));
    let id = id.trim();
    assert_eq!(id.len(), 64);
    assert_eq!(h.addrs(&format!("br-{}", short(id))), vec!["10.70.0.1/24"]);
    // docker and berth print the same table.
    let d = ok(h.docker(&["network", "ls"]));
    let b = ok(h.berth(&["network", "ls"]));
    assert_eq!(d, b);
    assert!(
        d.starts_with("NETWORK ID     NAME      DRIVER    SCOPE\n"),
        "{d}"
    );
    assert!(
        d.contains(&format!("{}   dnet      bridge    local", short(id))),
        "{d}"
    );
    let q = ok(h.docker(&["network", "ls", "-q", "--filter", "label=k=v"]));
    assert_eq!(q.trim(), short(id));
    let f = ok(h.docker(&[
        "network",
        "ls",
        "--filter",
        "driver=null",
        "--format",
        "{{.Name}}",
    ]));
    assert_eq!(f.trim(), "none");
    let ipam = ok(h.docker(&[
        "network",
        "inspect",
        "dnet",
        "--format",
        "{{json .IPAM.Config}} {{.Labels.k}}",
    ]));
    assert_eq!(
        ipam.trim(),
        r#"[{"Subnet":"10.70.0.0/24","Gateway":"10.70.0.1"}] v"#
    );
    let full = ok(h.docker(&["network", "inspect", "dnet"]));
    let v: Value = serde_json::from_str(&full).unwrap();
    assert_eq!(v[0]["Id"], id);
    let (_, err) = fails(h.docker(&["network", "create", "dnet"]));
    assert!(
        err.contains("network with name dnet already exists"),
        "{err}"
    );
    let (_, err) = fails(h.docker(&["network", "rm", "bridge"]));
    assert!(
        err.contains("bridge is a pre-defined network and cannot be removed"),
        "{err}"
    );
    assert_eq!(ok(h.docker(&["network", "rm", "dnet"])).trim(), "dnet");
    assert!(h.wait_link_gone(&format!("br-{}", short(id))));
    ok(h.docker(&["network", "create", "p1"]));
    ok(h.docker(&["network", "create", "p2"]));
    let pruned = ok(h.docker(&["network", "prune", "-f"]));
    assert!(pruned.contains("Deleted Networks:\np1\np2\n"), "{pruned}");
    let left = ok(h.docker(&["network", "ls", "--format", "{{.Name}}"]));
    assert_eq!(left, "bridge\nhost\nnone\n");
    let info = ok(h.docker(&["info", "--format", "{{.ServerVersion}} {{.OSType}}"]));
    assert!(info.trim().ends_with("linux"), "{info}");
}

#[test]
fn ls_filters_formats_and_prune_filters() {
    let h = Host::new();
    ok(h.berth(&["network", "create", "--label", "env=prod", "alpha"]));
    ok(h.berth(&["network", "create", "--label", "env=dev", "beta"]));
    let names = |args: &[&str]| -> String {
        let mut a = vec!["network", "ls", "--format", "{{.Name}}"];
        a.extend_from_slice(args);
        ok(h.berth(&a)).trim().replace('\n', " ")
    };
    assert_eq!(names(&["--filter", "label=env=prod"]), "alpha");
    assert_eq!(names(&["--filter", "label=env"]), "alpha beta");
    assert_eq!(names(&["--filter", "type=builtin"]), "bridge host none");
    assert_eq!(names(&["--filter", "name=alp"]), "alpha");
    assert_eq!(names(&["--filter", "dangling=true"]), "alpha beta");
    let json = ok(h.berth(&["network", "ls", "--format", "json", "--filter", "name=beta"]));
    let v: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(
        (v["Name"].as_str(), v["Labels"].as_str(), v["IPv6"].as_str()),
        (Some("beta"), Some("env=dev"), Some("false"))
    );
    let full = ok(h.berth(&["network", "ls", "--no-trunc", "-q", "--filter", "name=beta"]));
    assert_eq!(full.trim().len(), 64);
    let (_, err) = fails(h.berth(&["network", "ls", "--filter", "colour=red"]));
    assert!(err.contains("invalid filter 'colour'"), "{err}");
    let out = ok(h.berth(&["network", "prune", "-f", "--filter", "label=env=dev"]));
    assert_eq!(out, "Deleted Networks:\nbeta\n\n");
    // Nothing is older than 1h, so nothing goes.
    assert_eq!(
        ok(h.berth(&["network", "prune", "-f", "--filter", "until=1h"])),
        ""
    );
    let (_, err) = fails(h.berth(&["network", "prune", "-f", "--filter", "until=soon"]));
    assert!(err.contains("soon"), "{err}");
    assert_eq!(names(&[]), "alpha bridge host none");
}

#[test]
fn restart_keeps_networks_and_reconciles_the_kernel() {
    let mut h = Host::new();
    let id = ok(h.berth(&["network", "create", "--subnet", "10.80.0.0/24", "keep"]))
        .trim()
        .to_string();
    let gone = ok(h.berth(&["network", "create", "gone"]))
        .trim()
        .to_string();
    let bridge_id = h.api("GET", "/networks/bridge", None).1["Id"].clone();
    let bridge = format!("br-{}", short(&id));
    h.stop_daemon();
    // Networks and bridges stay while the daemon is down, as Docker's do.
    assert!(h.links().contains(&bridge));
    // Someone deletes a bridge; an orphaned berth bridge and a foreign bridge appear.
    h.sh(&format!("ip link del {bridge}"));
    h.sh("ip link add br-orphan type bridge && ip link set br-orphan alias berth:00000000000000000000000000000000000000000000000000000000deadbeef");
    h.sh("ip link add br-mine type bridge");
    h.start_daemon();
    assert_eq!(
        h.addrs(&bridge),
        vec!["10.80.0.1/24"],
        "missing bridge recreated"
    );
    let links = h.links();
    assert!(
        !links.contains(&"br-orphan".to_string()),
        "orphan removed: {links:?}"
    );
    assert!(
        links.contains(&"br-mine".to_string()),
        "foreign bridge untouched"
    );
    assert!(links.contains(&format!("br-{}", short(&gone))));
    let (_, v) = h.api("GET", "/networks/keep", None);
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(
        h.api("GET", "/networks/bridge", None).1["Id"],
        bridge_id,
        "default bridge keeps its ID"
    );

    // A crash (SIGKILL) loses nothing that was acknowledged.
    let crash = ok(h.berth(&["network", "create", "aftercrash"]))
        .trim()
        .to_string();
    h.kill_daemon();
    h.start_daemon();
    let (_, v) = h.api("GET", "/networks/aftercrash", None);
    assert_eq!(v["Id"], crash.as_str());
    assert!(h.links().contains(&format!("br-{}", short(&crash))));
    ok(h.berth(&["network", "rm", "keep", "gone", "aftercrash"]));
    // A clean stop waits for bridge teardown to finish.
    h.stop_daemon();
    let links = h.links();
    let stray: Vec<&String> = links
        .iter()
        .filter(|l| l.starts_with("br-") && *l != "br-mine")
        .collect();
    assert!(stray.is_empty(), "{links:?}\n{}", h.log());
    let links = h.links();
    assert!(
        links
            .iter()
            .all(|l| !l.starts_with("br-") || l == "br-mine"),
        "{links:?}"
    );
}

#[test]
fn api_versions_headers_and_errors() {
    let h = Host::new();
    for path in ["/_ping", "/v1.24/_ping", "/v1.51/_ping"] {
        let (code, headers, body) = h.raw_api("GET", path, None).unwrap();
        assert_eq!((code, body.as_str()), (200, "OK"), "{path}");
        let get = |k: &str| headers.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone());
        assert_eq!(get("api-version").as_deref(), Some("1.51"));
        assert_eq!(get("ostype").as_deref(), Some("linux"));
        assert!(get("server").unwrap().starts_with("berth/"));
    }
    let (code, _, _) = h.raw_api("HEAD", "/_ping", None).unwrap();
    assert_eq!(code, 200);
    let (code, v) = h.api("GET", "/v1.52/version", None);
    assert_eq!(code, 400);
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("Maximum supported API version is 1.51"));
    let (code, v) = h.api("GET", "/v1.12/version", None);
    assert_eq!(code, 400);
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("Minimum supported API version is 1.24"));
    let (code, v) = h.api("GET", "/v1.40/version", None);
    assert_eq!(code, 200);
    assert_eq!(v["ApiVersion"], "1.51");
    assert_eq!(v["MinAPIVersion"], "1.24");
    let (code, v) = h.api("GET", "/v1.51/nothing/here", None);
    assert_eq!(code, 404);
    assert!(v["message"].as_str().unwrap().contains("/nothing/here"));
    let (code, v) = h.api("GET", "/info", None);
    assert_eq!(code, 200);
    assert_eq!(v["OSType"], "linux");
    assert_eq!(
        v["Plugins"]["Network"],
        serde_json::json!(["bridge", "host", "null"])
    );
    let (code, v) = h.api("POST", "/networks/create", Some(r#"{"Name":"made"}"#));
    assert_eq!(code, 201);
    assert_eq!(v["Id"].as_str().unwrap().len(), 64);
    let (code, _) = h.api("DELETE", "/v1.41/networks/made", None);
    assert_eq!(code, 204);
}

#[test]
fn concurrent_creates_get_distinct_subnets() {
    let h = Host::new();
    let ids: Vec<String> = std::thread::scope(|s| {
        let hs = &h;
        let handles: Vec<_> = (0..8)
            .map(|i| {
                s.spawn(move || {
                    ok(hs.berth(&["network", "create", &format!("c{i}")]))
                        .trim()
                        .to_string()
                })
            })
            .collect();
        handles.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let mut subnets: Vec<String> = ids
        .iter()
        .map(|id| {
            h.api("GET", &format!("/networks/{id}"), None).1["IPAM"]["Config"][0]["Subnet"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    subnets.sort();
    subnets.dedup();
    assert_eq!(subnets.len(), 8, "{subnets:?}");
    for id in &ids {
        assert_eq!(h.addrs(&format!("br-{}", short(id))).len(), 1);
    }
    // Remove them all at once while more are created: kernel work overlaps in the daemon.
    std::thread::scope(|s| {
        let hs = &h;
        for i in 0..8 {
            s.spawn(move || ok(hs.berth(&["network", "rm", &format!("c{i}")])));
            s.spawn(move || ok(hs.berth(&["network", "create", &format!("d{i}")])));
        }
    });
    for id in &ids {
        let bridge = format!("br-{}", short(id));
        assert!(
            h.wait_link_gone(&bridge),
            "{bridge} left behind:\n{}",
            h.log()
        );
    }
    let names = ok(h.berth(&[
        "network",
        "ls",
        "--filter",
        "type=custom",
        "--format",
        "{{.Name}}",
    ]));
    assert_eq!(names.lines().count(), 8, "{names}");
    assert!(!h.log().contains("WARN"), "{}", h.log());
}

#[test]
fn daemon_configuration_errors_and_socket_exclusivity() {
    let mut h = Host::new();
    // A second daemon on the same socket refuses to start and leaves the first alone.
    let out = h.daemon_command(&[]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already listening"), "{err}");
    assert_eq!(h.try_api("GET", "/_ping", None).unwrap().0, 200);
    h.stop_daemon();
    assert!(!h.socket.exists(), "socket removed on clean stop");

    std::fs::write(
        h.config_file(),
        r#"{"bip": "10.1.0.1/24", "no-such-key": true}"#,
    )
    .unwrap();
    let out = h.daemon_command(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-key"), "{err}");
    std::fs::write(h.config_file(), r#"{"bip": 5}"#).unwrap();
    let err = String::from_utf8_lossy(&h.daemon_command(&[]).output().unwrap().stderr).into_owned();
    assert!(err.contains("\"bip\""), "{err}");
    std::fs::write(h.config_file(), r#"{"bip": "10.1.0.1/24"}"#).unwrap();
    let err = String::from_utf8_lossy(
        &h.daemon_command(&["--bip".into(), "10.2.0.1/24".into()])
            .output()
            .unwrap()
            .stderr,
    )
    .into_owned();
    assert!(
        err.contains("both as a flag and in the configuration file: bip"),
        "{err}"
    );
    let err = String::from_utf8_lossy(
        &h.daemon_command(&["--config-file".into(), "/nonexistent/daemon.json".into()])
            .output()
            .unwrap()
            .stderr,
    )
    .into_owned();
    assert!(err.contains("/nonexistent/daemon.json"), "{err}");

    // daemon.json settings take effect.
    std::fs::write(h.config_file(), r#"{"bip": "10.1.0.1/24", "default-address-pools": [{"base": "10.90.0.0/16", "size": 24}]}"#).unwrap();
    h.start_daemon();
    assert_eq!(h.addrs("berth0"), vec!["10.1.0.1/24"]);
    ok(h.berth(&["network", "create", "pooled"]));
    assert_eq!(
        h.api("GET", "/networks/pooled", None).1["IPAM"]["Config"][0]["Subnet"],
        "10.90.0.0/24"
    );
}

#[test]
fn tcp_listener_serves_the_same_api() {
    let h = Host::with_args(&["-H", "tcp://127.0.0.1:2375"]);
    // The TCP socket lives on the test namespace's loopback, so the client runs there too.
    let out = h.sh(&format!(
        "{} -H tcp://127.0.0.1:2375 network ls --format '{{{{.Name}}}}'",
        common::berth_bin().display()
    ));
    assert_eq!(out, "bridge\nhost\nnone\n");
}
