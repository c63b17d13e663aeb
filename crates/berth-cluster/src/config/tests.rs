use super::*;

fn local() -> LocalInterfaces {
    LocalInterfaces {
        addrs: vec![
            ("lo".into(), "127.0.0.1".parse().unwrap()),
            ("eth0".into(), "fe80::1".parse().unwrap()),
            ("eth0".into(), "192.168.1.5".parse().unwrap()),
            ("v6only".into(), "fd00::5".parse().unwrap()),
        ],
    }
}

fn args(store: &str, adv: Option<&str>, opts: &[(&str, &str)]) -> ClusterArgs {
    ClusterArgs {
        store: Some(store.into()),
        advertise: adv.map(String::from),
        opts: opts
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[test]
fn etcd_list_with_interface_advertise() {
    let p = ClusterConfig::parse(
        &args("etcd://10.0.0.1:2379,10.0.0.2:2379", Some("eth0:2376"), &[]),
        &local(),
    )
    .unwrap();
    let c = p.config.unwrap();
    assert_eq!(c.endpoints, vec!["10.0.0.1:2379", "10.0.0.2:2379"]);
    assert_eq!(c.prefix, "/berth");
    assert_eq!(c.endpoint_urls()[0], "http://10.0.0.1:2379");
    let a = c.advertise.unwrap();
    assert_eq!(a.ip.to_string(), "192.168.1.5");
    assert_eq!(a.port, Some(2376));
    assert_eq!(a.interface.as_deref(), Some("eth0"));
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn consul_and_zk_are_refused_naming_etcd() {
    for s in ["consul://1.2.3.4:8500", "zk://1.2.3.4:2181"] {
        let e = ClusterConfig::parse(&args(s, Some("127.0.0.1"), &[]), &local()).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("berth uses etcd"), "{m}");
        assert!(m.contains(s), "{m}");
    }
    let e = ClusterConfig::parse(&args("redis://x:1", None, &[]), &local()).unwrap_err();
    assert!(e.to_string().contains("berth uses etcd"), "{e}");
}

#[test]
fn bad_store_addresses_name_the_value() {
    for s in [
        "etcd://",
        "etcd://host",
        "etcd://host:0",
        "etcd://host:99999",
        "etcd://a:1,,b:2",
        "10.0.0.1:2379",
    ] {
        let e = ClusterConfig::parse(&args(s, None, &[]), &local()).unwrap_err();
        assert!(matches!(e, ConfigError::Store { .. }), "{s}: {e}");
        assert!(e.to_string().contains(s), "{e}");
    }
}

#[test]
fn path_and_kv_path_set_the_prefix() {
    let p = ClusterConfig::parse(
        &args("etcd://h:2379/team/a", Some("127.0.0.1"), &[]),
        &local(),
    )
    .unwrap();
    assert_eq!(p.config.unwrap().prefix, "/team/a");
    let p = ClusterConfig::parse(
        &args("etcd://h:2379", Some("127.0.0.1"), &[("kv.path", "x")]),
        &local(),
    )
    .unwrap();
    assert_eq!(p.config.unwrap().prefix, "/x");
}

#[test]
fn non_local_advertise_warns_and_unknown_interface_fails() {
    let p = ClusterConfig::parse(
        &args("etcd://h:2379", Some("203.0.113.9:2376"), &[]),
        &local(),
    )
    .unwrap();
    assert_eq!(p.warnings.len(), 1);
    assert!(p.warnings[0].contains("203.0.113.9"), "{:?}", p.warnings);
    let e =
        ClusterConfig::parse(&args("etcd://h:2379", Some("nosuch0"), &[]), &local()).unwrap_err();
    assert!(e.to_string().contains("nosuch0"), "{e}");
    let e =
        ClusterConfig::parse(&args("etcd://h:2379", Some("v6only"), &[]), &local()).unwrap_err();
    assert!(e.to_string().contains("no IPv4"), "{e}");
    let e =
        ClusterConfig::parse(&args("etcd://h:2379", Some("0.0.0.0"), &[]), &local()).unwrap_err();
    assert!(matches!(e, ConfigError::Advertise { .. }), "{e}");
}

#[test]
fn tls_opts() {
    let p = ClusterConfig::parse(
        &args(
            "etcd://h:2379",
            Some("127.0.0.1"),
            &[
                ("kv.cacertfile", "/ca.pem"),
                ("kv.certfile", "/c.pem"),
                ("kv.keyfile", "/k.pem"),
            ],
        ),
        &local(),
    )
    .unwrap();
    let c = p.config.unwrap();
    assert_eq!(c.endpoint_urls(), vec!["https://h:2379"]);
    let tls = c.tls.unwrap();
    assert_eq!(tls.ca_cert.unwrap().to_str(), Some("/ca.pem"));
    let e = ClusterConfig::parse(
        &args("etcd://h:2379", None, &[("kv.certfile", "/c.pem")]),
        &local(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("go together"), "{e}");
    let e = ClusterConfig::parse(&args("etcd://h:2379", None, &[("kv.bogus", "1")]), &local())
        .unwrap_err();
    assert!(
        e.to_string().contains("kv.bogus") && e.to_string().contains("kv.cacertfile"),
        "{e}"
    );
    assert_eq!(
        split_opts("kv.certfile=/a,kv.keyfile=/b").unwrap(),
        vec![
            ("kv.certfile".to_string(), "/a".to_string()),
            ("kv.keyfile".to_string(), "/b".to_string())
        ]
    );
    assert!(split_opts("novalue").is_err());
}

#[test]
fn no_store_is_single_host_and_advertise_alone_is_an_error() {
    let p = ClusterConfig::parse(&ClusterArgs::default(), &local()).unwrap();
    assert_eq!(p.config, None);
    let a = ClusterArgs {
        advertise: Some("eth0".into()),
        ..ClusterArgs::default()
    };
    assert_eq!(
        ClusterConfig::parse(&a, &local()).unwrap_err(),
        ConfigError::AdvertiseWithoutStore
    );
}

#[test]
fn system_interfaces_include_loopback() {
    let l = LocalInterfaces::from_system().unwrap();
    assert!(
        l.addrs.iter().any(|(_, ip)| ip.is_loopback()),
        "{:?}",
        l.addrs
    );
}
