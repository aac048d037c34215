"""deploy/k8s: every manifest valid against the Kubernetes API's own schemas (the OpenAPI
JSON Schemas shipped in the ``kubernetes-validate`` package, strict: unknown fields fail), the
probes on real routes and ports, the secrets mounted where the ``*_FILE`` variables point,
requests on every container, the kustomization's resources present."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from beholder.config import load_settings
from support.deploy_files import K8S, app_paths, unknown_variables, yaml_documents

# The oldest Kubernetes these manifests promise to work on (policy/v1 PDBs, Ingress v1 with
# ingressClassName) and the newest the package ships schemas for.
VERSIONS = ("1.29.0", kubernetes_validate.utils.latest_version())
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def _resources() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc)
        for path in MANIFESTS
        for doc in yaml_documents(path)
    ]


def _deployments() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in _resources() if d["kind"] == "Deployment"}


def _pod_containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "resource", [r for _, r in _resources()], ids=[name for name, _ in _resources()]
)
def test_manifest_is_valid_against_the_kubernetes_schema(
    resource: dict[str, Any], version: str
) -> None:
    kubernetes_validate.validate(resource, version, strict=True)


def test_the_validator_refuses_a_broken_manifest() -> None:
    # The check above can fail: a misspelt field and a wrong type are refused.
    deployment = _deployments()["beholder-api"]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pth"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_and_only_existing_ones() -> None:
    kustomization = yaml_documents(K8S / "kustomization.yaml")[0]
    assert sorted(kustomization["resources"]) == sorted(p.name for p in MANIFESTS)
    generated = {g["name"] for g in kustomization.get("secretGenerator", [])}
    assert generated == {"beholder-secrets"}


def test_api_and_worker_deployments_have_two_replicas_and_a_disruption_budget() -> None:
    deployments = _deployments()
    assert set(deployments) == {"beholder-api", "beholder-worker"}
    budgets = [d for _, d in _resources() if d["kind"] == "PodDisruptionBudget"]
    for deployment in deployments.values():
        assert deployment["spec"]["replicas"] >= 2
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [
            b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert covering, f"no PodDisruptionBudget selects {deployment['metadata']['name']}"
        assert covering[0]["spec"]["minAvailable"] < deployment["spec"]["replicas"]


def test_every_container_runs_the_beholder_command_it_should() -> None:
    deployments = _deployments()
    api = deployments["beholder-api"]["spec"]["template"]["spec"]
    worker = deployments["beholder-worker"]["spec"]["template"]["spec"]
    assert [c["args"] for c in api["initContainers"]] == [["migrate"]]
    assert [c["args"] for c in api["containers"]] == [["api"]]
    assert [c["args"] for c in worker["containers"]] == [["worker"]]


def test_api_probes_hit_real_routes_on_the_served_port() -> None:
    api = _deployments()["beholder-api"]["spec"]["template"]["spec"]["containers"][0]
    configmap = next(d for _, d in _resources() if d["kind"] == "ConfigMap")
    ports = {p["name"]: p["containerPort"] for p in api["ports"]}
    assert ports["http"] == int(configmap["data"]["BEHOLDER_PORT"])
    probes = {k: api[k]["httpGet"] for k in ("readinessProbe", "livenessProbe", "startupProbe")}
    assert probes["readinessProbe"]["path"] == "/api/system/ready"
    for probe in probes.values():
        assert probe["path"] in app_paths()
        assert probe["port"] in ports


def test_worker_probes_hit_its_metrics_port() -> None:
    worker = _deployments()["beholder-worker"]["spec"]["template"]["spec"]["containers"][0]
    configmap = next(d for _, d in _resources() if d["kind"] == "ConfigMap")
    ports = {p["name"]: p["containerPort"] for p in worker["ports"]}
    assert ports["metrics"] == int(configmap["data"]["BEHOLDER_WORKER_METRICS_PORT"])
    # Reachable by the kubelet: not the loopback default.
    assert configmap["data"]["BEHOLDER_WORKER_METRICS_HOST"] == "0.0.0.0"
    for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert worker[kind]["httpGet"]["port"] == "metrics"


def test_secret_files_are_mounted_where_the_file_variables_point() -> None:
    kustomization = yaml_documents(K8S / "kustomization.yaml")[0]
    generated = {Path(f).name for g in kustomization["secretGenerator"] for f in g["files"]}
    for deployment in _deployments().values():
        spec = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in _pod_containers(deployment):
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            for env in container.get("env", []):
                if not env["name"].endswith("_FILE"):
                    continue
                path = Path(env["value"])
                volume = volumes[mounts[str(path.parent)]]
                secret = volume["secret"]
                assert secret["secretName"] == "beholder-secrets"
                keys = {i["path"]: i["key"] for i in secret.get("items", [])} or {
                    k: k for k in generated
                }
                assert keys[path.name] in generated, f"{env['name']} -> {path}"


def test_every_variable_is_a_real_setting() -> None:
    for path in [*MANIFESTS, K8S / "kustomization.yaml"]:
        assert unknown_variables(path.read_text(encoding="utf-8")) == set(), path.name


def test_every_container_requests_cpu_and_memory_and_runs_unprivileged() -> None:
    for deployment in _deployments().values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in _pod_containers(deployment):
            assert {"cpu", "memory"} <= set(container["resources"]["requests"])
            assert "memory" in container["resources"]["limits"]
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]


_SECRET_VALUES = {
    "database_url": "postgresql+asyncpg://beholder:k8s-db-pass@postgres.example:5432/beholder",
    "secret_key": "s" * 48,
    "admin_password": "a-kubernetes-admin-passphrase",
    "metrics_token": "k8s-metrics-token",
    "nats_password": "k8s-nats-pass",
}


@pytest.mark.parametrize("deployment", ["beholder-api", "beholder-worker"])
def test_beholder_accepts_the_environment_of_every_container(
    deployment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a pod starts with: the ConfigMap, then the container's env, secrets as files.
    configmap = next(d for _, d in _resources() if d["kind"] == "ConfigMap")
    for container in _pod_containers(_deployments()[deployment]):
        for variable in [v for v in os.environ if v.startswith("BEHOLDER_")]:
            monkeypatch.delenv(variable)
        for variable, value in configmap["data"].items():
            monkeypatch.setenv(variable, value)
        for env in container.get("env", []):
            name = Path(env["value"]).name
            (tmp_path / name).write_text(_SECRET_VALUES[name] + "\n")
            monkeypatch.setenv(env["name"], str(tmp_path / name))
        settings = load_settings()
        assert settings.bus.password is not None
        assert settings.bus.password.get_secret_value() == _SECRET_VALUES["nats_password"]
        assert settings.metrics_allow == []
        if container["args"] != ["worker"]:
            assert settings.resolved_database_url == _SECRET_VALUES["database_url"]
