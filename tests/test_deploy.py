"""The deployment manifests stay consistent with the code: known settings, real commands."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import yaml

from skygate.cli import build_parser
from skygate.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _documents() -> list[dict]:  # type: ignore[type-arg]
    docs: list[dict] = []  # type: ignore[type-arg]
    for path in sorted(DEPLOY.rglob("*.y*ml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def _settings_names(doc: object) -> set[str]:
    found: set[str] = set()
    if isinstance(doc, dict):
        for key, value in doc.items():
            if isinstance(key, str) and key.startswith("SKYGATE_"):
                found.add(key)
            found |= _settings_names(value)
    elif isinstance(doc, list):
        for item in doc:
            found |= _settings_names(item)
    return found


def _commands(doc: object) -> list[list[str]]:
    found: list[list[str]] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "command" and isinstance(value, list) and value and value[0] == "skygate":
                found.append(value)
            else:
                found.extend(_commands(value))
    elif isinstance(doc, list):
        for item in doc:
            found.extend(_commands(item))
    return found


def test_manifests_use_only_known_settings() -> None:
    names = set().union(*(_settings_names(d) for d in _documents()))
    assert names, "the manifests set no SKYGATE_ variables"
    Settings.from_env({name: "postgresql://x@y/z" if "URL" in name else "/srv" for name in names})


@pytest.mark.parametrize("command", [c for d in _documents() for c in _commands(d)])
def test_manifest_commands_parse(command: list[str]) -> None:
    args = build_parser().parse_args(command[1:])
    assert args.command in {"serve", "worker"}


def test_dockerfile_copies_every_package() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    for package in ["dali", "adql", "release", "uws", "tap", "sia", "soda", "anomaly", "registry", "skygate"]:
        assert f"COPY {package} {package}" in text


# Spark (issue 20): the executors run skygate's anomaly scoring (mapInArrow) and write its scores into
# the shared results directory, so they need the spark image of deploy/Dockerfile and a writable mount.

SPARK = DEPLOY / "spark"
SPARK_IMAGE = "skygate-spark:latest"
RESULTS = "/srv/skygate"  # SKYGATE_DATA_DIR: results/<job>/scratch/ lies under it


def _yaml(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _k8s(kind: str, name: str) -> dict:  # type: ignore[type-arg]
    docs = _yaml(SPARK / "k8s" / "spark-connect.yaml")
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"deploy/spark/k8s/spark-connect.yaml has no {kind} {name}"
    return found[0]


def _confs(command: list[str]) -> dict[str, str]:
    confs: dict[str, str] = {}
    for flag, value in itertools.pairwise(command):
        if flag == "--conf":
            key, _, setting = value.partition("=")
            confs[key] = setting
    return confs


def _conf_flag(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def _driver() -> dict:  # type: ignore[type-arg]
    (container,) = _k8s("Deployment", "spark-connect")["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def _compose() -> dict[str, dict]:  # type: ignore[type-arg]
    """The two compose files merged the way `docker compose -f ... -f ...` merges services' keys."""
    base = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    override = yaml.safe_load((SPARK / "docker-compose.spark.yml").read_text())
    services = {name: dict(service) for name, service in base["services"].items()}
    for name, service in override["services"].items():
        merged = services.setdefault(name, {})
        for key, value in service.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    volumes = set(base.get("volumes", {})) | set(override.get("volumes") or {})
    for service in services.values():
        for mount in service.get("volumes", []):
            assert mount.split(":")[0] in volumes, f"undeclared volume in {mount}"
    return services


def _dockerfile_stages() -> dict[str, str]:
    stages: dict[str, str] = {}
    for block in re.split(r"^(?=FROM )", (DEPLOY / "Dockerfile").read_text(), flags=re.M)[1:]:
        header = block.splitlines()[0].split()
        stages[header[3] if len(header) > 3 else ""] = block
    return stages


def test_dockerfile_spark_target_has_skygate_java_and_spark() -> None:
    stages = _dockerfile_stages()
    assert 'install --only-binary=:all: --no-binary=pyspark ".[spark]"' in stages["build-spark"]
    assert stages["build-spark"].startswith("FROM build AS build-spark")
    spark = stages["spark"]
    assert "COPY --from=build-spark /opt/skygate /opt/skygate" in spark
    assert "openjdk-17-jre-headless" in spark
    python = re.search(r"FROM python:(\d+\.\d+)-", stages["base"])
    assert python is not None
    home = re.search(r"SPARK_HOME=(\S+)", spark)
    assert home is not None and home[1] == f"/opt/skygate/lib/python{python[1]}/site-packages/pyspark"
    assert "PYSPARK_PYTHON=/opt/skygate/bin/python" in spark
    assert 'ENTRYPOINT ["/usr/local/bin/spark-entrypoint"]' in spark
    # The last stage is what a plain `docker build` makes: the API and worker image, without Java.
    assert list(stages)[-1] == "" and "openjdk" not in stages[""]


def test_spark_entrypoint_starts_kubernetes_executors() -> None:
    script = (SPARK / "entrypoint.sh").read_text()
    assert "COPY --chmod=755 deploy/spark/entrypoint.sh /usr/local/bin/spark-entrypoint" in (
        DEPLOY / "Dockerfile").read_text()
    assert 'if [ "$1" != executor ]' in script and 'exec "$@"' in script
    assert "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend" in script
    for variable in ["SPARK_DRIVER_URL", "SPARK_EXECUTOR_ID", "SPARK_EXECUTOR_CORES", "SPARK_APPLICATION_ID",
                     "SPARK_EXECUTOR_POD_IP", "SPARK_EXECUTOR_MEMORY"]:
        assert f"${variable}" in script


def test_k8s_driver_and_executors_run_the_spark_image() -> None:
    driver = _driver()
    confs = _confs(driver["command"])
    assert driver["image"] == SPARK_IMAGE
    assert confs["spark.kubernetes.container.image"] == SPARK_IMAGE
    server = "org.apache.spark.sql.connect.service.SparkConnectServer"
    assert driver["command"][:3] == ["spark-submit", "--class", server]
    assert _conf_flag(driver["command"], "--master") == "k8s://https://kubernetes.default.svc"
    for key in ["spark.executor.instances", "spark.executor.cores", "spark.executor.memory"]:
        assert confs.get(key), key
    python = "/opt/skygate/bin/python"
    assert confs["spark.pyspark.python"] == python == confs["spark.executorEnv.PYSPARK_PYTHON"]
    assert {"name": "PYSPARK_PYTHON", "value": python} in driver["env"]


def test_k8s_results_are_writable_by_driver_and_executors() -> None:
    pod = _k8s("Deployment", "spark-connect")["spec"]["template"]["spec"]
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
    mounts = [m for m in _driver()["volumeMounts"] if m["mountPath"] == RESULTS]
    assert mounts and not mounts[0].get("readOnly", False), "the driver's results mount is read-only"
    claim = claims[mounts[0]["name"]]
    (pvc,) = [d for d in _yaml(DEPLOY / "k8s" / "volume.yaml") if d["metadata"]["name"] == claim]
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]
    prefix = "spark.kubernetes.executor.volumes.persistentVolumeClaim."
    executor = {k[len(prefix):]: v for k, v in _confs(_driver()["command"]).items() if k.startswith(prefix)}
    names = {key.split(".")[0] for key in executor}
    assert names, "the executors mount no volume"
    writable = [n for n in names if executor.get(f"{n}.mount.path") == RESULTS
                and executor.get(f"{n}.options.claimName") == claim
                and executor.get(f"{n}.mount.readOnly", "false") == "false"]
    assert writable, "the executors do not mount the results volume read-write where the workers do"


def test_k8s_driver_may_create_executor_pods() -> None:
    account = _k8s("ServiceAccount", "spark")["metadata"]["name"]
    pod = _k8s("Deployment", "spark-connect")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account
    assert _confs(_driver()["command"])["spark.kubernetes.authenticate.driver.serviceAccountName"] == account
    binding = _k8s("RoleBinding", "spark-executors")
    assert {"kind": "ServiceAccount", "name": account} in binding["subjects"]
    role = _k8s(binding["roleRef"]["kind"], binding["roleRef"]["name"])
    pods = [r for r in role["rules"] if "" in r["apiGroups"] and "pods" in r["resources"]]
    assert pods and {"create", "delete", "watch", "list", "get"} <= set(pods[0]["verbs"])


def test_k8s_overlay_points_api_and_workers_at_spark() -> None:
    (overlay,) = _yaml(SPARK / "k8s" / "kustomization.yaml")
    assert "spark-connect.yaml" in overlay["resources"]
    assert (SPARK / "k8s" / overlay["resources"][0] / "kustomization.yaml").exists()
    name, tag = SPARK_IMAGE.split(":")
    assert {"name": "skygate", "newName": name, "newTag": tag} in overlay["images"]
    for doc in _yaml(DEPLOY / "k8s" / "api.yaml") + _yaml(DEPLOY / "k8s" / "worker.yaml"):
        for container in doc["spec"]["template"]["spec"]["containers"] if doc["kind"] == "Deployment" else []:
            assert container["image"].split(":")[0] == "skygate"
    (patch,) = [yaml.safe_load(p["patch"]) for p in overlay["patches"]]
    assert patch["kind"] == "ConfigMap" and patch["metadata"]["name"] == "skygate"
    assert patch["data"]["SKYGATE_DATABASE_URL"] == "sc://spark-connect:15002"
    service = _k8s("Service", "spark-connect")
    assert service["spec"]["ports"][0]["port"] == 15002
    assert _confs(_driver()["command"])["spark.connect.grpc.binding.port"] == "15002"


def test_compose_spark_runs_the_spark_image_with_a_writable_volume() -> None:
    services = _compose()
    assert services["api"]["build"]["target"] in _dockerfile_stages()
    assert services["api"]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile", "target": "spark"}
    for name in ["spark-master", "spark-worker", "spark-connect", "api", "worker"]:
        assert services[name]["image"] == services["api"]["image"] == SPARK_IMAGE, name
    for name in ["spark-worker", "spark-connect", "api", "worker"]:
        mounts = [m for m in services[name]["volumes"] if m.split(":")[1] == RESULTS]
        assert mounts and not mounts[0].endswith(":ro"), f"{name} mounts {RESULTS} read-only or not at all"
    connect = services["spark-connect"]["command"]
    assert _conf_flag(connect, "--master") == "spark://spark-master:7077"
    assert connect[-1].startswith("spark.") and not connect[-1].endswith(".jar")
    assert services["spark-worker"]["command"][-1] == "spark://spark-master:7077"
    assert _confs(connect)["spark.pyspark.python"] == services["spark-worker"]["environment"]["PYSPARK_PYTHON"]
    for name in ["api", "worker"]:
        assert services[name]["environment"]["SKYGATE_DATABASE_URL"] == "sc://spark-connect:15002"
        assert "spark-connect" in services[name]["depends_on"]


def test_no_manifest_names_an_image_without_skygate() -> None:
    text = "\n".join(p.read_text() for p in sorted(DEPLOY.rglob("*.y*ml")))
    assert "apache/spark" not in text

