//! The deployment files, checked without a Docker engine or a cluster: `docker-compose.yml`,
//! the Kubernetes manifests, the Prometheus configuration and rules, the Grafana provisioning
//! and dashboard. `promtool` itself runs in `scripts/check-deploy`; these tests check what it
//! cannot: that the files agree with each other and with the gateway's configuration keys.

mod compose;
mod k8s;
mod metric_refs;
mod monitoring;
mod support;
