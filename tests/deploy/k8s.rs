//! `deploy/k8s/`: the Deployment (3 replicas, probes, graceful termination, non-root), the PDB,
//! the migration Job, and every Secret and ConfigMap reference they make.

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
                    format!("production-value-of-{key}")
                }
            }
        };
        env.push((name, value));
    }
    env
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
    // src/startup.rs drains HTTP for up to 30 s after SIGTERM; leases are handed back after.
    let http_drain_secs = 30;
    assert!(
        grace >= pre_stop_secs + http_drain_secs + 15,
        "grace {grace}s must cover preStop {pre_stop_secs}s + drain {http_drain_secs}s + hand-back"
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
    let config_map = object("ConfigMap/checkout-gateway");
    let http = str_at(&config_map, &["data", "APP__HTTP__LISTEN"]);
    assert_eq!(port_of(http), 8080);
}
