//! `deploy/k8s/`: the Deployment (3 replicas, probes, graceful termination, non-root), the PDB,
//! the migration Job, every Secret and ConfigMap reference they make, and the NetworkPolicy
//! that keeps the admin port to operators and Prometheus.

use std::collections::BTreeMap;

use checkout_gateway::config::AppEnv;
use serde_yaml::Value;

use crate::support::{
    at, load, overrides, port_of, read, repo, scalar, seq, str_at, yaml_documents,
};

/// Every object of every manifest under deploy/k8s, by `kind/name`.
fn objects() -> BTreeMap<String, Value> {
    let dir = repo("deploy/k8s");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("deploy/k8s")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".yaml") && f != "kustomization.yaml")
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| yaml_documents(&format!("deploy/k8s/{f}")))
        .map(|doc| {
            let key = format!(
                "{}/{}",
                str_at(&doc, &["kind"]),
                str_at(&doc, &["metadata", "name"])
            );
            (key, doc)
        })
        .collect()
}

fn object(kind_name: &str) -> Value {
    objects()
        .remove(kind_name)
        .unwrap_or_else(|| panic!("no {kind_name} in deploy/k8s"))
}

fn container(workload: &Value) -> Value {
    seq(workload, &["spec", "template", "spec", "containers"])[0].clone()
}

fn labels(value: &Value) -> BTreeMap<String, String> {
    value
        .as_mapping()
        .expect("labels")
        .iter()
        .map(|(k, v)| (scalar(k), scalar(v)))
        .collect()
}

fn container_port(container: &Value, name: &str) -> u16 {
    seq(container, &["ports"])
        .iter()
        .find(|p| str_at(p, &["name"]) == name)
        .and_then(|p| at(p, &["containerPort"]).as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| panic!("no container port named {name}"))
}

/// The environment a workload's container runs with: its ConfigMap's data, then its `env`
/// (Secret values replaced by stand-ins named after the key).
fn workload_env(workload: &Value) -> Vec<(String, String)> {
    let container = container(workload);
    let mut env = Vec::new();
    for from in container
        .get("envFrom")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let name = str_at(from, &["configMapRef", "name"]);
        let config_map = object(&format!("ConfigMap/{name}"));
        for (k, v) in at(&config_map, &["data"]).as_mapping().expect("data") {
            env.push((scalar(k), scalar(v)));
        }
    }
    for var in seq(&container, &["env"]) {
        let name = str_at(var, &["name"]).to_owned();
        let value = match var.get("value") {
            Some(v) => scalar(v),
            None => {
                let key = str_at(var, &["valueFrom", "secretKeyRef", "key"]);
                if key == "database-url" {
                    "postgres://gateway:secret@postgres:5432/gateway".to_owned()
                } else {
                    generated_stand_in(key)
                }
            }
        };
        env.push((name, value));
    }
    env
}

/// What `openssl rand -hex 32` would give, distinct per key: production refuses short or
/// placeholder-looking secrets, so the stand-ins must look generated.
fn generated_stand_in(key: &str) -> String {
    let mut hex = hex::encode(format!("stand-in for the {key} key"));
    hex.truncate(64);
    hex
}

#[test]
fn the_deployment_runs_three_replicas_with_health_probes_on_the_public_port() {
    let deployment = object("Deployment/checkout-gateway");
    assert_eq!(at(&deployment, &["spec", "replicas"]).as_u64(), Some(3));
    let container = container(&deployment);
    let settings = load(
        AppEnv::Production,
        &overrides(&workload_env(&deployment), "deployment"),
    )
    .unwrap_or_else(|e| panic!("the Deployment's environment fails production rules: {e}"));
    assert_eq!(
        container_port(&container, "http"),
        settings.http.listen.port()
    );
    assert_eq!(
        container_port(&container, "admin"),
        settings.admin.listen.port()
    );
    for (probe, path) in [
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
        ("startupProbe", "/healthz"),
    ] {
        assert_eq!(
            str_at(&container, &[probe, "httpGet", "path"]),
            path,
            "{probe}"
        );
        assert_eq!(
            str_at(&container, &[probe, "httpGet", "port"]),
            "http",
            "{probe}"
        );
    }
    let args: Vec<String> = seq(&container, &["args"]).iter().map(scalar).collect();
    assert_eq!(
        args,
        ["serve", "--no-migrate"],
        "migrations belong to the Job"
    );
}

#[test]
fn termination_leaves_time_to_drain_and_hand_back_leases() {
    let deployment = object("Deployment/checkout-gateway");
    let grace = at(
        &deployment,
        &["spec", "template", "spec", "terminationGracePeriodSeconds"],
    )
    .as_u64()
    .expect("terminationGracePeriodSeconds");
    let container = container(&deployment);
    let pre_stop: Vec<String> = seq(&container, &["lifecycle", "preStop", "exec", "command"])
        .iter()
        .map(scalar)
        .collect();
    assert_eq!(pre_stop[0], "sleep");
    let pre_stop_secs: u64 = pre_stop[1].parse().expect("seconds");
    // After SIGTERM the process hands its checkouts back (up to SHUTDOWN_GRACE), then drains
    // its listeners (up to SHUTDOWN_GRACE again).
    let step = checkout_gateway::startup::SHUTDOWN_GRACE.as_secs();
    assert!(
        grace >= pre_stop_secs + 2 * step,
        "grace {grace}s must cover preStop {pre_stop_secs}s + hand-back {step}s + drain {step}s"
    );
    let rolling = at(&deployment, &["spec", "strategy", "rollingUpdate"]);
    assert_eq!(at(rolling, &["maxUnavailable"]).as_u64(), Some(0));
}

#[test]
fn pods_run_as_the_images_non_root_user() {
    let dockerfile = read("Dockerfile");
    assert!(
        dockerfile.contains("\nUSER 10001:10001\n"),
        "the image's user is 10001"
    );
    for workload in [
        "Deployment/checkout-gateway",
        "Job/checkout-gateway-migrate",
    ] {
        let pod = at(&object(workload), &["spec", "template", "spec"]).clone();
        assert_eq!(
            at(&pod, &["securityContext", "runAsNonRoot"]).as_bool(),
            Some(true)
        );
        assert_eq!(
            at(&pod, &["securityContext", "runAsUser"]).as_u64(),
            Some(10001)
        );
        let container = seq(&pod, &["containers"])[0].clone();
        let security = at(&container, &["securityContext"]);
        assert_eq!(
            at(security, &["allowPrivilegeEscalation"]).as_bool(),
            Some(false)
        );
        assert_eq!(
            at(security, &["readOnlyRootFilesystem"]).as_bool(),
            Some(true)
        );
    }
}

#[test]
fn the_disruption_budget_and_service_select_the_deployments_pods() {
    let deployment = object("Deployment/checkout-gateway");
    let pod_labels = labels(at(&deployment, &["spec", "template", "metadata", "labels"]));
    let selector = labels(at(&deployment, &["spec", "selector", "matchLabels"]));
    let pdb = object("PodDisruptionBudget/checkout-gateway");
    let pdb_selector = labels(at(&pdb, &["spec", "selector", "matchLabels"]));
    assert_eq!(
        pdb_selector, selector,
        "the PDB selects exactly the Deployment's pods"
    );
    assert!(
        pdb_selector
            .iter()
            .all(|(k, v)| pod_labels.get(k) == Some(v))
    );
    let min_available = at(&pdb, &["spec", "minAvailable"])
        .as_u64()
        .expect("minAvailable");
    assert!(
        (1..3).contains(&min_available),
        "a drain can still evict one pod at a time"
    );
    let job_pod = labels(at(
        &object("Job/checkout-gateway-migrate"),
        &["spec", "template", "metadata", "labels"],
    ));
    assert!(
        !pdb_selector.iter().all(|(k, v)| job_pod.get(k) == Some(v)),
        "the migration Job's pod is not counted by the PDB"
    );
    let service = object("Service/checkout-gateway");
    let service_selector = labels(at(&service, &["spec", "selector"]));
    assert!(
        service_selector
            .iter()
            .all(|(k, v)| pod_labels.get(k) == Some(v))
    );
    let container = container(&deployment);
    for port in seq(&service, &["spec", "ports"]) {
        container_port(&container, str_at(port, &["targetPort"]));
    }
    let annotations = at(
        &deployment,
        &["spec", "template", "metadata", "annotations"],
    );
    let scrape_port: u16 = str_at(annotations, &["prometheus.io/port"])
        .parse()
        .expect("port");
    assert_eq!(
        scrape_port,
        container_port(&container, "admin"),
        "/metrics is on the admin port"
    );
}

#[test]
fn every_secret_reference_names_a_declared_key() {
    let secret = object("Secret/checkout-gateway");
    let declared: Vec<String> = at(&secret, &["stringData"])
        .as_mapping()
        .expect("stringData")
        .keys()
        .map(scalar)
        .collect();
    let mut referenced = 0;
    for workload in [
        "Deployment/checkout-gateway",
        "Job/checkout-gateway-migrate",
    ] {
        for var in seq(&container(&object(workload)), &["env"]) {
            if let Some(reference) = var.get("valueFrom").and_then(|v| v.get("secretKeyRef")) {
                assert_eq!(
                    str_at(reference, &["name"]),
                    "checkout-gateway",
                    "{workload}"
                );
                let key = str_at(reference, &["key"]);
                assert!(
                    declared.contains(&key.to_owned()),
                    "{workload}: Secret has no key {key}"
                );
                referenced += 1;
            }
        }
    }
    assert!(
        referenced >= 8,
        "the workloads take their secrets from the Secret"
    );
}

#[test]
fn the_migration_job_migrates_with_the_production_settings() {
    let job = object("Job/checkout-gateway-migrate");
    let container = container(&job);
    let args: Vec<String> = seq(&container, &["args"]).iter().map(scalar).collect();
    assert_eq!(args, ["migrate"]);
    assert_eq!(
        str_at(&job, &["spec", "template", "spec", "restartPolicy"]),
        "Never"
    );
    // `migrate` loads the whole configuration before it connects: it must pass production.
    load(
        AppEnv::Production,
        &overrides(&workload_env(&job), "migration job"),
    )
    .unwrap_or_else(|e| panic!("the migration Job's environment fails production rules: {e}"));
}

#[test]
fn kustomization_lists_existing_manifests_and_no_secret() {
    let kustomization = crate::support::yaml("deploy/k8s/kustomization.yaml");
    for resource in seq(&kustomization, &["resources"]) {
        let file = scalar(resource);
        assert!(
            repo(&format!("deploy/k8s/{file}")).is_file(),
            "{file} is missing"
        );
        assert!(
            !file.contains("secret"),
            "placeholder secrets are never applied by -k"
        );
    }
    let resources: Vec<String> = seq(&kustomization, &["resources"])
        .iter()
        .map(scalar)
        .collect();
    assert!(
        resources.contains(&"networkpolicy.yaml".to_owned()),
        "the admin port's NetworkPolicy is applied with the Deployment"
    );
    let config_map = object("ConfigMap/checkout-gateway");
    let http = str_at(&config_map, &["data", "APP__HTTP__LISTEN"]);
    assert_eq!(port_of(http), 8080);
}

/// `port` of a NetworkPolicy rule resolved against the container's named ports.
fn policy_port(container: &Value, port: &Value) -> u16 {
    match at(port, &["port"]) {
        Value::Number(n) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .expect("a port number"),
        named => container_port(container, &scalar(named)),
    }
}

#[test]
fn the_admin_port_is_reachable_only_from_ops_pods_and_prometheus() {
    let deployment = object("Deployment/checkout-gateway");
    let container = container(&deployment);
    let pod_labels = labels(at(&deployment, &["spec", "template", "metadata", "labels"]));
    let (http, admin) = (
        container_port(&container, "http"),
        container_port(&container, "admin"),
    );
    // The ConfigMap binds the admin listener beyond loopback (Prometheus scrapes the pod), so
    // the pod network must be kept off it by a policy.
    let settings = load(
        AppEnv::Production,
        &overrides(&workload_env(&deployment), "deployment"),
    )
    .expect("the Deployment's settings load");
    assert!(
        settings.admin.listen.ip().is_unspecified(),
        "the ConfigMap sets admin.listen to 0.0.0.0 explicitly"
    );

    let policy = object("NetworkPolicy/checkout-gateway");
    let selector = labels(at(&policy, &["spec", "podSelector", "matchLabels"]));
    assert!(
        selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)),
        "the policy selects the Deployment's pods"
    );
    let types: Vec<String> = seq(&policy, &["spec", "policyTypes"])
        .iter()
        .map(scalar)
        .collect();
    assert!(types.contains(&"Ingress".to_owned()), "{types:?}");

    let mut http_open = false;
    let mut admin_peers = Vec::new();
    for rule in seq(&policy, &["spec", "ingress"]) {
        // A rule without `ports` would open every port, the admin one included.
        let ports: Vec<u16> = seq(rule, &["ports"])
            .iter()
            .map(|p| policy_port(&container, p))
            .collect();
        let from = rule.get("from").and_then(Value::as_sequence);
        if ports.contains(&http) && from.is_none() {
            http_open = true;
        }
        if ports.contains(&admin) {
            let peers = from.expect("a rule opening the admin port names its peers");
            assert!(!peers.is_empty(), "an empty `from` admits everyone");
            admin_peers.extend(peers.iter().cloned());
        }
    }
    assert!(http_open, "the public port is open to every peer");
    for peer in &admin_peers {
        assert!(peer.get("ipBlock").is_none(), "no address ranges: {peer:?}");
        let pods = labels(at(peer, &["podSelector", "matchLabels"]));
        assert!(
            !pods.is_empty(),
            "every admin peer is a labelled pod: {peer:?}"
        );
        if let Some(namespaces) = peer.get("namespaceSelector") {
            let namespaces = labels(at(namespaces, &["matchLabels"]));
            assert_eq!(
                namespaces
                    .get("kubernetes.io/metadata.name")
                    .map(String::as_str),
                Some("monitoring"),
                "{peer:?}"
            );
        }
    }
    let allowed: Vec<BTreeMap<String, String>> = admin_peers
        .iter()
        .map(|peer| labels(at(peer, &["podSelector", "matchLabels"])))
        .collect();
    let ops = BTreeMap::from([("app.kubernetes.io/component".to_owned(), "ops".to_owned())]);
    let prometheus =
        BTreeMap::from([("app.kubernetes.io/name".to_owned(), "prometheus".to_owned())]);
    assert_eq!(
        allowed,
        [ops, prometheus],
        "exactly the ops pods and Prometheus"
    );
    // The gateway's own pods are neither: one replica cannot call another's /admin/*.
    assert!(
        allowed
            .iter()
            .all(|sel| !sel.iter().all(|(k, v)| pod_labels.get(k) == Some(v)))
    );
}

#[test]
fn the_image_builds_the_gateway_without_the_development_tools() {
    let dockerfile = read("Dockerfile");
    let builds: Vec<&str> = dockerfile
        .lines()
        .filter(|line| line.contains("cargo build"))
        .collect();
    assert!(!builds.is_empty(), "the Dockerfile builds the binary");
    for build in builds {
        assert!(
            build.contains("--release") && build.contains("--no-default-features"),
            "every image build leaves the default dev-tools feature out: {build}"
        );
    }
    assert!(
        dockerfile.contains("ARG CARGO_FEATURES=\"\""),
        "no extra feature unless the builder asks for one"
    );
}
