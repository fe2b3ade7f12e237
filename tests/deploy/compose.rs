//! `docker-compose.yml`: files it mounts and builds from exist, the gateway's environment is
//! made of real configuration keys and loads, and the services point at each other correctly.

use std::collections::BTreeMap;

use checkout_gateway::config::{AppEnv, UpstreamTarget};
use serde_yaml::Value;

use crate::support::{at, load, overrides, port_of, repo, scalar, seq, str_at, substitute, yaml};

const COMPOSE: &str = "docker-compose.yml";

fn compose() -> Value {
    yaml(COMPOSE)
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    at(compose, &["services", name])
}

/// A service's `environment` (map or `KEY=value` list), with `${…}` substituted.
pub fn environment(service: &Value) -> Vec<(String, String)> {
    match service.get("environment") {
        None => Vec::new(),
        Some(Value::Mapping(map)) => map
            .iter()
            .map(|(k, v)| (scalar(k), substitute(&scalar(v))))
            .collect(),
        Some(Value::Sequence(list)) => list
            .iter()
            .map(|item| {
                let item = scalar(item);
                let (k, v) = item.split_once('=').unwrap_or((&item, ""));
                (k.to_owned(), substitute(v))
            })
            .collect(),
        Some(other) => panic!("environment is neither a map nor a list: {other:?}"),
    }
}

fn env_value<'a>(env: &'a [(String, String)], name: &str) -> &'a str {
    env.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{name} is not set"))
}

/// `(host path, container path)` of a service's bind mounts (`./x:/y[:ro]`).
fn bind_mounts(service: &Value) -> Vec<(String, String)> {
    service
        .get("volumes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let spec = scalar(v);
            let mut parts = spec.split(':');
            let host = parts.next()?;
            let container = parts.next()?;
            host.starts_with('.')
                .then(|| (host.to_owned(), container.to_owned()))
        })
        .collect()
}

/// The host file behind a container path, through the service's bind mounts.
fn host_path(service: &Value, container_path: &str) -> String {
    bind_mounts(service)
        .into_iter()
        .find_map(|(host, mount)| {
            container_path
                .strip_prefix(&mount)
                .map(|rest| format!("{}{rest}", host.trim_start_matches("./")))
        })
        .unwrap_or_else(|| panic!("{container_path} is not under any bind mount"))
}

fn gateway_env() -> Vec<(String, String)> {
    environment(service(&compose(), "gateway"))
}

#[test]
fn the_stack_has_every_service_the_issue_names() {
    let compose = compose();
    let services = at(&compose, &["services"]).as_mapping().expect("services");
    let names: Vec<String> = services.keys().map(scalar).collect();
    for expected in ["postgres", "gateway", "sandbox", "prometheus", "grafana"] {
        assert!(
            names.contains(&expected.to_owned()),
            "no `{expected}` in {names:?}"
        );
    }
}

#[test]
fn every_referenced_file_exists() {
    let compose = compose();
    let services = at(&compose, &["services"]).as_mapping().expect("services");
    let named_volumes = compose
        .get("volumes")
        .and_then(Value::as_mapping)
        .map(|m| m.keys().map(scalar).collect::<Vec<_>>())
        .unwrap_or_default();
    for (name, svc) in services {
        let name = scalar(name);
        if let Some(build) = svc.get("build") {
            let context = str_at(build, &["context"]);
            let dockerfile = build
                .get("dockerfile")
                .and_then(Value::as_str)
                .unwrap_or("Dockerfile");
            let path = repo(context).join(dockerfile);
            assert!(path.is_file(), "{name}: {} is missing", path.display());
        }
        for volume in svc
            .get("volumes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let spec = scalar(volume);
            let source = spec.split(':').next().unwrap_or_default();
            if source.starts_with('.') || source.starts_with('/') {
                assert!(
                    repo(source).exists(),
                    "{name}: volume source {source} is missing"
                );
            } else {
                assert!(
                    named_volumes.contains(&source.to_owned()),
                    "{name}: named volume {source} is not declared under volumes:"
                );
            }
        }
    }
}

#[test]
fn every_app_variable_is_a_configuration_key_and_each_service_loads() {
    let compose = compose();
    for name in ["gateway", "sandbox"] {
        let env = environment(service(&compose, name));
        let profile = AppEnv::parse(env_value(&env, "APP_ENV")).expect("APP_ENV is valid");
        let settings = load(profile, &overrides(&env, name))
            .unwrap_or_else(|e| panic!("{name}'s environment does not load: {e}"));
        if name == "gateway" {
            assert!(
                settings.http.listen.ip().is_unspecified(),
                "public listener on 0.0.0.0"
            );
            assert!(
                settings.admin.listen.ip().is_unspecified(),
                "admin listener on 0.0.0.0"
            );
            assert!(settings.database.url.starts_with("postgres://"));
            assert!(settings.admin.token.is_some(), "the admin API is on");
        }
    }
}

/// The gateway's secrets: each comes from the caller's environment (`${VAR:-dev default}`).
const SECRET_VARIABLES: [&str; 3] = [
    "APP__AUTH__JWT_HS256_SECRET",
    "APP__SECURITY__SOURCE_ACCOUNT_KEY",
    "APP__ADMIN__TOKEN",
];

/// The URLs that are plain http only because the compose stack has no TLS.
const TLS_LESS: [&str; 2] = ["upstream.base_url", "hosted_page.public_base_url"];

#[test]
fn the_gateway_meets_every_production_rule_but_the_https_upstream() {
    // The sandbox speaks plain http inside the compose network, which production refuses
    // (as it does the payment page's http origin: the stack has no TLS); everything else
    // (apikey, Postgres, token issuer and audience) must already be production-grade. The secrets' defaults are throw-away dev values, which production
    // refuses; each can be given from the caller's environment, as an operator would
    // (`GATEWAY_JWT_SECRET=$(openssl rand -hex 32)`).
    let compose = compose();
    let raw = at(service(&compose, "gateway"), &["environment"]);
    let mut env = overrides(&gateway_env(), "gateway");
    let mut defaults = env.clone();
    for (key, value) in &mut env {
        if TLS_LESS.contains(&key.as_str()) {
            *value = value.replacen("http://", "https://", 1);
        }
    }
    for (i, variable) in SECRET_VARIABLES.iter().enumerate() {
        let given = scalar(at(raw, &[variable]));
        assert!(
            given.starts_with("${") && given.ends_with('}'),
            "{variable} comes from the caller's environment: {given}"
        );
        let key = crate::support::env_to_key(variable).expect("an APP__ variable");
        for (k, value) in &mut env {
            if *k == key {
                *value = format!("{:064x}", 0x5eed_0000_u64 + i as u64);
            }
        }
    }
    load(AppEnv::Production, &env)
        .unwrap_or_else(|e| panic!("the compose gateway fails a production rule: {e}"));
    // And the dev defaults are refused there, so they cannot be carried into production.
    for (key, value) in &mut defaults {
        if TLS_LESS.contains(&key.as_str()) {
            *value = value.replacen("http://", "https://", 1);
        }
    }
    assert!(load(AppEnv::Production, &defaults).is_err());
}

#[test]
fn the_gateway_calls_the_sandbox_service_with_the_key_it_accepts() {
    let compose = compose();
    let env = gateway_env();
    let settings = load(AppEnv::Local, &overrides(&env, "gateway")).expect("loads");
    let UpstreamTarget::Remote(url) = &settings.upstream.target else {
        panic!("the gateway must call the sandbox service, not an in-process one");
    };
    assert_eq!(url.host_str(), Some("sandbox"));
    assert_eq!(
        url.path().trim_end_matches('/'),
        "/partners/v1",
        "the sandbox's base path"
    );
    let sandbox = service(&compose, "sandbox");
    let command: Vec<String> = seq(sandbox, &["command"]).iter().map(scalar).collect();
    assert_eq!(command.first().map(String::as_str), Some("sandbox"));
    let listen = command
        .iter()
        .skip_while(|arg| *arg != "--listen")
        .nth(1)
        .expect("the sandbox is given --listen");
    assert!(
        listen.starts_with("0.0.0.0:"),
        "the sandbox listens on every interface"
    );
    assert_eq!(url.port(), Some(port_of(listen)));
    let sandbox_env = environment(sandbox);
    assert_eq!(
        env_value(&sandbox_env, "APP__UPSTREAM__APIKEY"),
        env_value(&env, "APP__UPSTREAM__APIKEY"),
        "the sandbox accepts only its own apikey"
    );
}

#[test]
fn prometheus_scrapes_the_gateway_admin_listener_and_loads_the_rules() {
    let compose = compose();
    let prometheus = service(&compose, "prometheus");
    let config_arg = seq(prometheus, &["command"])
        .iter()
        .map(scalar)
        .find_map(|a| a.strip_prefix("--config.file=").map(str::to_owned))
        .expect("--config.file");
    let config_path = host_path(prometheus, &config_arg);
    let config = yaml(&config_path);
    let dir = config_path.rsplit_once('/').map(|(d, _)| d).unwrap_or(".");
    for rule_file in seq(&config, &["rule_files"]) {
        let path = format!("{dir}/{}", scalar(rule_file));
        assert!(repo(&path).is_file(), "rule file {path} is missing");
    }
    let services: BTreeMap<String, Value> = at(&compose, &["services"])
        .as_mapping()
        .expect("services")
        .iter()
        .map(|(k, v)| (scalar(k), v.clone()))
        .collect();
    let admin_port = port_of(
        &load(AppEnv::Local, &overrides(&gateway_env(), "gateway"))
            .expect("loads")
            .admin
            .listen
            .to_string(),
    );
    let mut gateway_targets = 0;
    for job in seq(&config, &["scrape_configs"]) {
        for static_config in seq(job, &["static_configs"]) {
            for target in seq(static_config, &["targets"]) {
                let target = scalar(target);
                let (host, _) = target.rsplit_once(':').expect("host:port");
                assert!(
                    host == "localhost" || services.contains_key(host),
                    "scrape target {target} is not a compose service"
                );
                if host == "gateway" {
                    assert_eq!(
                        port_of(&target),
                        admin_port,
                        "/metrics is on the admin port"
                    );
                    assert_eq!(str_at(job, &["job_name"]), crate::monitoring::GATEWAY_JOB);
                    gateway_targets += 1;
                }
            }
        }
    }
    assert_eq!(gateway_targets, 1, "the gateway is scraped once");
}

#[test]
fn grafana_is_provisioned_with_the_datasource_and_the_dashboard() {
    let compose = compose();
    let grafana = service(&compose, "grafana");
    let datasources = yaml(&host_path(
        grafana,
        "/etc/grafana/provisioning/datasources/prometheus.yml",
    ));
    let source = &seq(&datasources, &["datasources"])[0];
    assert_eq!(str_at(source, &["url"]), "http://prometheus:9090");
    assert_eq!(str_at(source, &["uid"]), crate::monitoring::DATASOURCE_UID);
    let providers = yaml(&host_path(
        grafana,
        "/etc/grafana/provisioning/dashboards/checkout-gateway.yml",
    ));
    let dashboards_dir = str_at(&seq(&providers, &["providers"])[0], &["options", "path"]);
    let dashboard = host_path(grafana, &format!("{dashboards_dir}/checkout-gateway.json"));
    assert!(repo(&dashboard).is_file(), "{dashboard} is missing");
    let env = environment(grafana);
    let home = env_value(&env, "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH");
    assert!(
        repo(&host_path(grafana, home)).is_file(),
        "home dashboard {home} is missing"
    );
}
