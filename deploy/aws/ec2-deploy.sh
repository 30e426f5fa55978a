#!/usr/bin/env bash
# Run an image from ECR on an EC2 instance with port 5000 open, as in the article.
#
# The first time, it launches an instance (Amazon Linux 2023) whose user-data installs
# Docker, pulls the image and runs it. Afterwards it rolls the running instance onto the
# new image through SSM Run Command: no SSH, no open port 22. On the instance,
# `estimator-run` starts the new container, waits for /ready, and goes back to the previous
# image if the new one does not become ready.
#
#   AWS_REGION=eu-west-1 IMAGE_URI=123456789012.dkr.ecr.eu-west-1.amazonaws.com/estimator:v1.2.0 \
#   ALLOWED_CIDR=203.0.113.0/24 deploy/aws/ec2-deploy.sh
#
# Environment (required): AWS_REGION; IMAGE_URI (what ecr-push.sh printed), or IMAGE_TAG
# for that tag in ECR_REPOSITORY (estimator); ALLOWED_CIDR, who may reach port 5000
# (0.0.0.0/0 opens it to everyone, as the article does).
# Optional: EC2_NAME (estimator, the Name tag that finds the instance again);
# EC2_INSTANCE_TYPE (t3.small); EC2_AMI_PARAMETER (the public SSM parameter of the latest
# Amazon Linux 2023); EC2_SUBNET_ID (default: the default VPC); EC2_KEY_NAME (none);
# EC2_INSTANCE_PROFILE (estimator-ec2, created with its role when missing: ECR read-only,
# SSM, and reading /estimator/* parameters); ADMIN_TOKEN_PARAMETER (an SSM SecureString,
# e.g. /estimator/admin-token, passed to the container as ESTIMATOR_ADMIN_TOKEN).
set -euo pipefail
here=$(dirname "$0")
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$here/lib.sh"
if [ -z "${IMAGE_URI:-}" ] && [ -n "${IMAGE_TAG:-}" ]; then
  IMAGE_URI="$ECR_REGISTRY/$ECR_REPOSITORY:$IMAGE_TAG"
fi
require IMAGE_URI ALLOWED_CIDR
name=${EC2_NAME:-estimator}
profile=${EC2_INSTANCE_PROFILE:-estimator-ec2}

running_instance() {
  aws ec2 describe-instances \
    --filters "Name=tag:Name,Values=$name" "Name=instance-state-name,Values=pending,running" \
    --query 'Reservations[].Instances[].InstanceId' --output text
}

# Roll a running instance onto IMAGE_URI and show what estimator-run printed.
update() {
  local id=$1 command_id
  log "rolling $id onto $IMAGE_URI"
  command_id=$(aws ssm send-command --instance-ids "$id" \
    --document-name AWS-RunShellScript \
    --comment "estimator rollout" \
    --parameters "{\"commands\": [\"/usr/local/bin/estimator-run '$IMAGE_URI'\"]}" \
    --query Command.CommandId --output text)
  local status=0
  aws ssm wait command-executed --command-id "$command_id" --instance-id "$id" || status=$?
  aws ssm get-command-invocation --command-id "$command_id" --instance-id "$id" \
    --query '[Status, StandardOutputContent, StandardErrorContent]' --output text >&2
  return "$status"
}

# Each piece is made only when missing, so a run that stopped half-way can be repeated.
ensure_instance_profile() {
  if ! aws iam get-role --role-name "$profile" >/dev/null 2>&1; then
    log "creating the role $profile for the instance"
    aws iam create-role --role-name "$profile" --assume-role-policy-document \
      '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}}]}' \
      >/dev/null
  fi
  aws iam attach-role-policy --role-name "$profile" \
    --policy-arn arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly
  aws iam attach-role-policy --role-name "$profile" \
    --policy-arn arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore
  aws iam put-role-policy --role-name "$profile" --policy-name estimator-parameters \
    --policy-document "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"ssm:GetParameter\", \"Resource\": \"arn:aws:ssm:$AWS_REGION:$AWS_ACCOUNT_ID:parameter/estimator/*\"}]}"
  if ! aws iam get-instance-profile --instance-profile-name "$profile" >/dev/null 2>&1; then
    aws iam create-instance-profile --instance-profile-name "$profile" >/dev/null
  fi
  if [ -z "$(aws iam get-instance-profile --instance-profile-name "$profile" \
      --query 'InstanceProfile.Roles[].RoleName' --output text)" ]; then
    aws iam add-role-to-instance-profile --instance-profile-name "$profile" \
      --role-name "$profile"
  fi
  aws iam wait instance-profile-exists --instance-profile-name "$profile"
}

ensure_security_group() {
  local vpc group
  if [ -n "${EC2_SUBNET_ID:-}" ]; then
    vpc=$(aws ec2 describe-subnets --subnet-ids "$EC2_SUBNET_ID" \
      --query 'Subnets[0].VpcId' --output text)
  else
    vpc=$(aws ec2 describe-vpcs --filters Name=is-default,Values=true \
      --query 'Vpcs[0].VpcId' --output text)
  fi
  group=$(aws ec2 describe-security-groups \
    --filters "Name=group-name,Values=$name-http" "Name=vpc-id,Values=$vpc" \
    --query 'SecurityGroups[0].GroupId' --output text)
  if [ "$group" = None ]; then
    log "creating the security group $name-http: port 5000 from $ALLOWED_CIDR"
    group=$(aws ec2 create-security-group --group-name "$name-http" --vpc-id "$vpc" \
      --description "estimator: HTTP on port 5000" --query GroupId --output text)
    aws ec2 authorize-security-group-ingress --group-id "$group" \
      --protocol tcp --port 5000 --cidr "$ALLOWED_CIDR" >/dev/null
  fi
  echo "$group"
}

# The user-data: the deployment's settings, estimator-run, then the boot script.
user_data() {
  echo '#!/bin/bash'
  printf 'AWS_REGION=%q\nIMAGE_URI=%q\nADMIN_TOKEN_PARAMETER=%q\n' \
    "$AWS_REGION" "$IMAGE_URI" "${ADMIN_TOKEN_PARAMETER:-}"
  echo "cat >/usr/local/bin/estimator-run <<'ESTIMATOR_RUN'"
  cat "$here/estimator-run.sh"
  echo "ESTIMATOR_RUN"
  tail -n +2 "$here/user-data.sh"
}

launch() {
  local ami group id dns extra=()
  ami=$(aws ssm get-parameter --name "${EC2_AMI_PARAMETER:-/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64}" \
    --query Parameter.Value --output text)
  ensure_instance_profile
  group=$(ensure_security_group)
  [ -n "${EC2_SUBNET_ID:-}" ] && extra+=(--subnet-id "$EC2_SUBNET_ID")
  [ -n "${EC2_KEY_NAME:-}" ] && extra+=(--key-name "$EC2_KEY_NAME")
  user_data >"$tmp/user-data.sh"
  log "launching $name ($ami, ${EC2_INSTANCE_TYPE:-t3.small})"
  # A new instance profile takes a few seconds to become usable by EC2: retry a little.
  for attempt in 1 2 3 4 5; do
    if id=$(aws ec2 run-instances --image-id "$ami" --count 1 \
        --instance-type "${EC2_INSTANCE_TYPE:-t3.small}" \
        --iam-instance-profile "Name=$profile" --security-group-ids "$group" \
        --metadata-options HttpTokens=required,HttpEndpoint=enabled \
        --user-data "file://$tmp/user-data.sh" \
        --tag-specifications "ResourceType=instance,Tags=[{Key=Name,Value=$name},{Key=app,Value=estimator}]" \
        "${extra[@]}" --query 'Instances[0].InstanceId' --output text); then
      break
    fi
    [ "$attempt" -lt 5 ] || exit 1
    sleep 10
  done
  aws ec2 wait instance-running --instance-ids "$id"
  dns=$(aws ec2 describe-instances --instance-ids "$id" \
    --query 'Reservations[0].Instances[0].PublicDnsName' --output text)
  log "$id is running; the service answers on http://$dns:5000/ready once Docker has pulled the image"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
instance=$(running_instance)
case "$instance" in
  "") launch ;;
  *[[:space:]]*) echo "error: several instances are named $name: $instance" >&2; exit 1 ;;
  *) update "$instance" ;;
esac
