"""deploy/k8s, validated offline against the Kubernetes schemas (kubernetes-validate ships them),
then checked against the code: probe paths are real routes, ports and grace periods match the
settings, selectors select, and every environment variable is one a settings field reads."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from starlette.routing import Route

from collector.app import create_app as collector_app
from collector.settings import Settings as CollectorSettings
from consumers.api.app import create_app as api_app
from consumers.ops.catalog import build_catalog
from consumers.ops.sitecheck import validate_file
from consumers.settings import Settings as ConsumerSettings
from snippet.sites import load_sites

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"  # the oldest release docs/scaling.md promises (preStop sleep)
Doc = dict[str, Any]


def _kustomization() -> Doc:
    loaded: Doc = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return loaded


def _docs() -> Iterator[tuple[str, Doc]]:
    for name in _kustomization()["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            if doc:
                yield name, doc


def _find(kind: str, name: str) -> Doc:
    (doc,) = [d for _, d in _docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def _container(workload: Doc) -> Doc:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    result: Doc = container
    return result


def _env(container: Doc) -> dict[str, str]:
    """The container's environment as the pod sees it: envFrom sources, then env."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef") or source.get("secretRef")
        kind = "ConfigMap" if "configMapRef" in source else "Secret"
        data = _find(kind, ref["name"])
        env.update(data.get("data") or data.get("stringData") or {})
    env.update({e["name"]: e["value"] for e in container.get("env", [])})
    return env


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = _kustomization()
    assert kustomization["kind"] == "Kustomization"
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.parametrize(
    "version", [KUBERNETES_VERSION, kubernetes_validate.utils.latest_version()]
)
def test_every_manifest_matches_the_kubernetes_schemas(version: str) -> None:
    for name, doc in _docs():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {doc['kind']} {doc['metadata']['name']}: {exc.message}")


def test_the_validator_catches_a_mistake() -> None:
    bad = _find("Deployment", "microcv-api")
    bad = {**bad, "spec": {**bad["spec"], "replica": 2}}  # a typo: strict mode refuses it
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def _paths(routes: list[Any]) -> set[str]:
    return {r.path for r in routes if isinstance(r, Route)}


def test_probes_use_real_endpoints_on_the_real_ports() -> None:
    sites = load_sites(REPO / "deploy" / "sites.example.toml")
    collector_paths = _paths(collector_app(CollectorSettings(), sites).routes)
    api_paths = _paths(api_app(ConsumerSettings(), sites).routes)
    workloads = {
        "collector": (_find("StatefulSet", "microcv-collector"), collector_paths),
        "api": (_find("Deployment", "microcv-api"), api_paths),
        # The worker's metrics server answers GET /metrics and nothing else.
        "consumer": (_find("Deployment", "microcv-consumer"), {"/metrics"}),
    }
    port_settings = {
        "collector": "MICROCV_COLLECTOR_PORT",
        "api": "MICROCV_API_PORT",
        "consumer": "MICROCV_WORKER_METRICS_PORT",
    }
    for component, (workload, paths) in workloads.items():
        container = _container(workload)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        env = _env(container)
        probes = [
            container[k]
            for k in ("readinessProbe", "livenessProbe", "startupProbe")
            if k in container
        ]
        assert "livenessProbe" in container, component
        for probe in probes:
            get = probe["httpGet"]
            assert get["path"] in paths, f"{component}: {get['path']} is not served"
            assert ports[get["port"]] == int(env[port_settings[component]])
    collector = _container(workloads["collector"][0])
    assert collector["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert collector["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "readinessProbe" in _container(workloads["api"][0])


def test_termination_grace_covers_the_processes_grace() -> None:
    for kind, name in [
        ("StatefulSet", "microcv-collector"),
        ("Deployment", "microcv-consumer"),
        ("Deployment", "microcv-api"),
    ]:
        workload = _find(kind, name)
        grace = float(_env(_container(workload))["MICROCV_GRACE_S"])
        period = workload["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace < period <= grace + 30, f"{name}: {period} s for a {grace} s grace"


def test_every_environment_variable_is_read_by_a_settings_field() -> None:
    known = {s.env for cls in build_catalog().settings for s in cls.settings}
    for name, doc in _docs():
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            unknown = set(_env(_container(doc))) - known
            assert not unknown, f"{name}: no settings field reads {sorted(unknown)}"
    assert set(_find("Secret", "microcv-secrets")["stringData"]) == {
        "MICROCV_REDIS_URL",
        "MICROCV_VISITOR_SECRET",
    }


def test_the_sites_config_map_is_a_valid_sites_config() -> None:
    text = _find("ConfigMap", "microcv-sites")["data"]["sites.toml"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sites.toml"
        path.write_text(text)
        sites, errors = validate_file(path, build_catalog())
    assert sites is not None and not errors, errors
    for kind, name in [
        ("StatefulSet", "microcv-collector"),
        ("Deployment", "microcv-consumer"),
        ("Deployment", "microcv-api"),
    ]:
        workload = _find(kind, name)
        container = _container(workload)
        volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert volumes["sites"]["configMap"]["name"] == "microcv-sites"
        assert _env(container)["MICROCV_SITES"] == f"{mounts['sites']}/sites.toml"


def test_selectors_select_and_the_autoscaler_targets_the_collector() -> None:
    for _, doc in _docs():
        if doc["kind"] in ("Deployment", "StatefulSet"):
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items()
        if doc["kind"] in ("Service", "PodDisruptionBudget"):
            selector = doc["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            targets = [
                d for _, d in _docs()
                if d["kind"] in ("Deployment", "StatefulSet")
                and selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
            ]  # fmt: skip
            assert len(targets) == 1, f"{doc['kind']} {doc['metadata']['name']} selects {targets}"
    hpa = _find("HorizontalPodAutoscaler", "microcv-collector")
    target = hpa["spec"]["scaleTargetRef"]
    assert _find(target["kind"], target["name"])["spec"]["template"]["spec"]["containers"][0][
        "command"
    ] == ["python", "-m", "collector"]
    assert hpa["spec"]["minReplicas"] >= 2


def test_pods_run_as_the_images_non_root_user() -> None:
    for _, doc in _docs():
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            pod = doc["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's USER
            assert _container(doc)["securityContext"]["allowPrivilegeEscalation"] is False
