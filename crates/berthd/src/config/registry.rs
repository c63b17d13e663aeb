//! Registry settings: `insecure-registries` / `--insecure-registry` and `registry-mirrors` /
//! `--registry-mirror`, as dockerd takes them.

use super::daemon_json::DaemonJson;
use super::{Args, ConfigError};
use berth_image::registry::{Insecure, Mirror, RegistryOptions};

/// The settings given both as a flag and in the file.
pub fn both(args: &Args, file: &DaemonJson) -> Vec<&'static str> {
    let mut out = Vec::new();
    if !args.insecure_registries.is_empty() && file.insecure_registries.is_some() {
        out.push("insecure-registries");
    }
    if !args.registry_mirrors.is_empty() && file.registry_mirrors.is_some() {
        out.push("registry-mirrors");
    }
    out
}

pub fn resolve(args: &Args, file: &DaemonJson) -> Result<RegistryOptions, ConfigError> {
    let pick = |flag: &Vec<String>, key: &Option<Vec<String>>| {
        if flag.is_empty() {
            key.clone().unwrap_or_default()
        } else {
            flag.clone()
        }
    };
    let insecure = pick(&args.insecure_registries, &file.insecure_registries)
        .iter()
        .map(|s| Insecure::parse(s).map_err(ConfigError::Invalid))
        .collect::<Result<_, _>>()?;
    let mirrors = pick(&args.registry_mirrors, &file.registry_mirrors)
        .iter()
        .map(|s| Mirror::parse(s).map_err(ConfigError::Invalid))
        .collect::<Result<_, _>>()?;
    Ok(RegistryOptions { insecure, mirrors })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_or_file_never_both_and_bad_entries_named() {
        let file = DaemonJson {
            insecure_registries: Some(vec!["10.0.0.0/8".into(), "reg:5000".into()]),
            registry_mirrors: Some(vec!["http://127.0.0.1:5001".into()]),
            ..Default::default()
        };
        let r = resolve(&Args::default(), &file).unwrap();
        assert_eq!(r.insecure.len(), 2);
        assert_eq!(r.mirrors[0].host, "127.0.0.1:5001");
        let args = Args {
            insecure_registries: vec!["x:1".into()],
            ..Default::default()
        };
        assert_eq!(both(&args, &file), vec!["insecure-registries"]);
        let bad = DaemonJson {
            registry_mirrors: Some(vec!["mirror.example".into()]),
            ..Default::default()
        };
        let e = resolve(&Args::default(), &bad).unwrap_err().to_string();
        assert!(e.contains("mirror.example") && e.contains("http"), "{e}");
        let bad = Args {
            insecure_registries: vec!["https://reg".into()],
            ..Default::default()
        };
        let e = resolve(&bad, &DaemonJson::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("https://reg"), "{e}");
    }
}
