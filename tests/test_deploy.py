"""The rendered deployment files validate where they can be validated offline.

compose.yaml against the Compose specification's schema; Kubernetes manifests
parse and name what a cluster needs (an engine and a cluster are not available
here, so `docker compose config` and `kubectl apply --dry-run` are not run).
"""

import sys
from pathlib import Path

import pytest
import yaml
from conftest import render_defaults, run

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    destination = render_defaults(tmp_path_factory.mktemp("deploy") / "project")
    return destination


def test_compose_file_matches_the_compose_spec(project: Path) -> None:
    compose = project / "deploy" / "compose.yaml"
    run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(compose)],
        project,
    )
    compose_file = yaml.safe_load(compose.read_text())
    services = compose_file["services"]
    assert set(services) == {"nats", "provision", "gateway-migrate", "gateway"}
    assert services["gateway"]["ports"] == ["127.0.0.1:8000:8000"]
    # Processes start once the streams and consumers are provisioned and their
    # cells' databases migrated, and restart.
    assert services["gateway"]["depends_on"] == {
        "nats": {"condition": "service_healthy"},
        "provision": {"condition": "service_completed_successfully"},
        "gateway-migrate": {"condition": "service_completed_successfully"},
    }
    assert services["provision"]["command"] == ["nats", "provision"]
    assert services["provision"]["depends_on"] == {"nats": {"condition": "service_healthy"}}
    assert services["gateway-migrate"]["command"] == ["db", "upgrade", "orders", "payments"]
    # The SQLite files live on a volume both see, where the image lets the app user write.
    assert services["gateway"]["volumes"] == ["gateway-data:/app/data"]
    assert services["gateway-migrate"]["volumes"] == ["gateway-data:/app/data"]
    assert "gateway-data" in compose_file["volumes"]
    assert all("restart" in service for service in services.values())
    # The gateway's secrets come from the environment (empty: topology.toml's value).
    for variable in ("API_KEYS", "JWT_KEY", "ALLOWED_HOSTS"):
        name = f"MY_SERVICE_GATEWAY_{variable}"
        assert services["gateway"]["environment"][name] == f"${{{name}:-}}"
    assert "-sd" in services["nats"]["command"]


def test_kubernetes_manifests_are_well_formed(project: Path) -> None:
    kinds = {}
    for manifest in sorted((project / "deploy" / "k8s").glob("*.yaml")):
        for document in yaml.safe_load_all(manifest.read_text()):
            assert {"apiVersion", "kind", "metadata", "spec"} <= set(document), manifest.name
            kinds.setdefault(document["kind"], []).append(document["metadata"]["name"])
            if document["kind"] in {"Deployment", "Job"}:
                pod = document["spec"]["template"]["spec"]
                assert pod["securityContext"]["runAsNonRoot"] is True
                for container in pod["containers"] + pod.get("initContainers", []):
                    assert container["securityContext"]["allowPrivilegeEscalation"] is False
            if document["kind"] == "Deployment":  # read-only root: /tmp is a volume of its own
                tmp = {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}
                assert tmp in document["spec"]["template"]["spec"]["volumes"], manifest.name
                for container in document["spec"]["template"]["spec"]["containers"]:
                    assert container["securityContext"]["readOnlyRootFilesystem"] is True
                    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]  # noqa: S108  (a manifest value)
    assert kinds == {
        "Deployment": ["my-service-gateway"],
        "Job": ["my-service-provision"],
        "NetworkPolicy": [
            "my-service-deny-ingress",
            "my-service-nats-clients",
            "my-service-gateway-public",
        ],
        "PersistentVolumeClaim": ["my-service-gateway-data"],
        "Service": ["my-service-gateway", "nats"],
        "StatefulSet": ["nats"],
    }
    gateway = next(yaml.safe_load_all((project / "deploy" / "k8s" / "gateway.yaml").read_text()))
    pod = gateway["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["args"] == ["db", "upgrade", "orders", "payments"]
    assert pod["securityContext"]["fsGroup"] == 10001  # the volume is the app user's
    assert gateway["spec"]["strategy"] == {"type": "Recreate"}  # one writer per SQLite file
    container = pod["containers"][0]
    from_secret = {
        item["name"]: item["valueFrom"]["secretKeyRef"]
        for item in container["env"]
        if "valueFrom" in item and item["name"].startswith("MY_SERVICE_GATEWAY_")
    }
    assert from_secret == {
        f"MY_SERVICE_GATEWAY_{key.upper()}": {
            "name": "my-service-gateway",
            "key": key,
            "optional": True,
        }
        for key in ("api_keys", "jwt_key", "allowed_hosts")
    }
    # The kubelet would send the pod's IP as Host, which the allowlist refuses.
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        assert container[probe]["httpGet"] == {
            "path": path,
            "port": 8000,
            "httpHeaders": [{"name": "Host", "value": "localhost"}],
        }


def test_network_policies_close_every_pod_but_the_ports_it_serves(project: Path) -> None:
    """Parsed as a cluster would: every pod template's label is selected by the policy
    that denies ingress; only NATS's client port and the gateway's are opened again."""
    documents = [
        document
        for manifest in sorted((project / "deploy" / "k8s").glob("*.yaml"))
        for document in yaml.safe_load_all(manifest.read_text())
    ]
    pods = {
        document["spec"]["template"]["metadata"]["labels"]["app"]
        for document in documents
        if document["kind"] in {"Deployment", "StatefulSet", "Job"}
    }
    policies = {
        document["metadata"]["name"]: document["spec"]
        for document in documents
        if document["kind"] == "NetworkPolicy"
    }
    deny = policies["my-service-deny-ingress"]
    assert deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny
    (selector,) = deny["podSelector"]["matchExpressions"]
    assert (selector["key"], selector["operator"]) == ("app", "In")
    assert set(selector["values"]) == pods == {"nats", "my-service-gateway", "my-service-provision"}
    nats = policies["my-service-nats-clients"]
    assert nats["podSelector"] == {"matchLabels": {"app": "nats"}}
    (rule,) = nats["ingress"]
    assert rule["ports"] == [{"port": 4222, "protocol": "TCP"}]  # not 8222, monitoring
    (source,) = rule["from"]
    assert set(source["podSelector"]["matchExpressions"][0]["values"]) == pods - {"nats"}
    public = policies["my-service-gateway-public"]
    assert public["podSelector"] == {"matchLabels": {"app": "my-service-gateway"}}
    assert public["ingress"] == [{"ports": [{"port": 8000, "protocol": "TCP"}]}]


def test_dockerfile_runs_as_an_unprivileged_user_without_build_tools(project: Path) -> None:
    dockerfile = (project / "deploy" / "Dockerfile").read_text()
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1]
    assert "AS build" in dockerfile
    assert "USER 10001" in final_stage
    assert "chown 10001:10001 /app/data" in final_stage
    assert "uv" not in final_stage.replace(".venv", "")
    assert "apt-get" not in dockerfile
    assert 'ENTRYPOINT ["my-service"]' in final_stage
