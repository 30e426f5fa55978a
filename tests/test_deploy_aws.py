"""The AWS scripts (deploy/aws), run for real against moto's AWS on 127.0.0.1.

Real AWS cannot be reached from here, so the scripts talk to a local moto server through
AWS_ENDPOINT_URL, with throw-away credentials and no AWS configuration file: ECR, IAM, EC2
and SSM calls, their JMESPath queries and JSON documents all run as they would in an
account. What moto cannot play (a Docker engine, the instance's boot) is checked
statically: every option the scripts pass is looked up in the AWS CLI's own command
tables, and the user-data is parsed by bash. The `docker` the push script calls is a
stand-in that records its arguments.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

awscli_driver = pytest.importorskip("awscli.clidriver", reason="awscli is in the dev extra")

AWS = Path(__file__).resolve().parents[1] / "deploy" / "aws"
BIN = Path(sys.executable).parent
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
SETTINGS = ("AWS_", "ECR_", "EC2_", "IMAGE_", "ALLOWED_CIDR", "ADMIN_TOKEN_PARAMETER",
            "LOCAL_IMAGE")


# --- every option the scripts pass exists ------------------------------------------------------

def aws_calls(script: str) -> list[tuple[str, str, list[str]]]:
    """(service, operation, flags) of every `aws SERVICE OPERATION [--flag ...]` in a script."""
    lines = [ln for ln in script.replace("\\\n", " ").splitlines()
             if not ln.lstrip().startswith("#")]
    calls = []
    for line in lines:
        for m in re.finditer(r"(?:^|[\s($;&|])aws\s+([a-z0-9-]+)\s+([a-z0-9-]+)(.*)", line):
            service, operation, rest = m.groups()
            rest = re.split(r"\||\)|;|&&|>", rest)[0]
            if operation == "wait":
                waiter, _, rest = rest.strip().partition(" ")
                operation = f"wait {waiter}"
            calls.append((service, operation, re.findall(r"(--[a-z0-9-]+)", rest)))
    return calls


def subcommands(command: Any) -> dict[str, Any]:
    """A service's operations, or a `wait` command's waiters (the CLI keeps them apart)."""
    if command is None:
        return {}
    if hasattr(command, "subcommand_table"):
        return dict(command.subcommand_table)
    return dict(command._get_command_table())


def unknown_flags(calls: list[tuple[str, str, list[str]]]) -> list[str]:
    """What the installed AWS CLI would refuse: commands it lacks, options they do not take."""
    driver = awscli_driver.create_clidriver()
    services = driver._get_command_table()
    common = {f"--{name}" for name in driver._get_argument_table()}
    bad = []
    for service, operation, flags in calls:
        command: Any = services.get(service)
        for word in operation.split():
            command = subcommands(command).get(word)
        if command is None:
            bad.append(f"aws {service} {operation}: no such command")
            continue
        known = common | {f"--{name}" for name in command.arg_table}
        bad += [f"aws {service} {operation} {f}" for f in flags if f not in known]
    return bad


def test_aws_scripts_use_real_commands_and_options() -> None:
    calls = aws_calls("\n".join(p.read_text() for p in sorted(AWS.glob("*.sh"))))
    used = {f"{service} {operation}" for service, operation, _ in calls}
    assert {"ecr create-repository", "ecr get-login-password", "ec2 run-instances",
            "ssm send-command", "ec2 wait instance-running"} <= used
    assert unknown_flags(calls) == []


def test_option_check_catches_made_up_options_and_commands() -> None:
    calls = aws_calls("aws ec2 run-instances --image-id x \\\n  --instance-colour red\n"
                      "id=$(aws ec2 run-instance --count 1)\naws ssm wait command-done\n")
    assert unknown_flags(calls) == ["aws ec2 run-instances --instance-colour",
                                    "aws ec2 run-instance: no such command",
                                    "aws ssm wait command-done: no such command"]


# --- the scripts against moto -----------------------------------------------------------------

@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A moto server on a free loopback port, and the environment that points the CLI at it."""
    server_bin = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if server_bin is None:
        pytest.skip("moto is not installed (it is in the dev extra)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tmp_path_factory.mktemp("moto")
    log = (folder / "moto.log").open("w")
    server = subprocess.Popen([server_bin, "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                              stderr=subprocess.STDOUT,
                              env={**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, \
                    (folder / "moto.log").read_text()
                time.sleep(0.2)
        # Nothing from a real AWS configuration or an earlier deployment may leak in.
        keep = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS)}
        yield {**keep, "PATH": f"{BIN}:{keep['PATH']}", "AWS_ENDPOINT_URL": url,
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_REGION": "eu-west-1",
               "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
               "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": ""}
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def run(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(AWS / script), *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def aws(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run([str(BIN / "aws"), *args, "--region", "eu-west-1", "--output",
                           "json"], env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_scripts_name_every_missing_setting(moto: dict[str, str]) -> None:
    no_region = {k: v for k, v in moto.items() if k != "AWS_REGION"}
    done = run("ecr-push.sh", no_region)
    assert (done.returncode, done.stderr) == (2, "error: set AWS_REGION (see docs/deploy.md)\n")
    done = run("ec2-deploy.sh", moto)
    assert done.returncode == 2
    assert done.stderr == "error: set IMAGE_URI ALLOWED_CIDR (see docs/deploy.md)\n"


@pytest.mark.slow
def test_ecr_push_creates_the_repository_logs_in_tags_and_pushes(
        moto: dict[str, str], tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "docker").write_text('#!/bin/sh\n{ echo "$*"; [ "$1" != login ] || cat; } '
                                 f'>>{tmp_path}/docker.log\n')
    (fake / "docker").chmod(0o755)
    env = {**moto, "PATH": f"{fake}:{moto['PATH']}", "IMAGE_TAG": "v1.2.0"}
    for _ in range(2):  # the second push finds the repository already there
        done = run("ecr-push.sh", env, "estimator:boston")
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"{REGISTRY}/estimator:v1.2.0\n"
    (repo,) = aws(moto, "ecr", "describe-repositories")["repositories"]
    assert repo["repositoryName"] == "estimator"
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    calls = (tmp_path / "docker.log").read_text().splitlines()
    assert calls[0] == f"login --username AWS --password-stdin {REGISTRY}"
    assert calls[1]  # the password, read from stdin
    assert calls[2:4] == [f"tag estimator:boston {REGISTRY}/estimator:v1.2.0",
                          f"push {REGISTRY}/estimator:v1.2.0"]


@pytest.mark.slow
def test_ec2_deploy_launches_an_instance_then_rolls_it_forward(moto: dict[str, str]) -> None:
    env = {**moto, "IMAGE_TAG": "v1.2.0", "ALLOWED_CIDR": "203.0.113.0/24",
           "EC2_NAME": "estimator-test", "ADMIN_TOKEN_PARAMETER": "/estimator/admin-token"}
    done = run("ec2-deploy.sh", env)
    assert done.returncode == 0, done.stderr
    assert "is running; the service answers on http://" in done.stderr
    (reservation,) = aws(moto, "ec2", "describe-instances", "--filters",
                         "Name=tag:Name,Values=estimator-test")["Reservations"]
    (instance,) = reservation["Instances"]
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert instance["IamInstanceProfile"]["Arn"].endswith("/estimator-ec2")
    (group,) = aws(moto, "ec2", "describe-security-groups", "--group-ids",
                   instance["SecurityGroups"][0]["GroupId"])["SecurityGroups"]
    (rule,) = group["IpPermissions"]
    assert (rule["FromPort"], rule["ToPort"], rule["IpRanges"][0]["CidrIp"]) == \
        (5000, 5000, "203.0.113.0/24")
    attribute = aws(moto, "ec2", "describe-instance-attribute", "--attribute", "userData",
                    "--instance-id", instance["InstanceId"])
    user_data = base64.b64decode(attribute["UserData"]["Value"]).decode()
    assert f"IMAGE_URI={REGISTRY}/estimator:v1.2.0\n" in user_data
    assert (AWS / "estimator-run.sh").read_text() in user_data
    syntax = subprocess.run(["bash", "-n"], input=user_data, capture_output=True, text=True,
                            check=False)
    assert syntax.returncode == 0, syntax.stderr

    done = run("ec2-deploy.sh", {**env, "IMAGE_TAG": "v1.3.0"})
    assert done.returncode == 0, done.stderr
    assert f"rolling {instance['InstanceId']} onto {REGISTRY}/estimator:v1.3.0" in done.stderr
    commands = aws(moto, "ssm", "list-commands")["Commands"]
    assert commands[-1]["Parameters"]["commands"] == \
        [f"/usr/local/bin/estimator-run '{REGISTRY}/estimator:v1.3.0'"]
    assert commands[-1]["InstanceIds"] == [instance["InstanceId"]]
