#!/usr/bin/env bash
# Push a local image to Amazon ECR: create the repository the first time (immutable tags,
# scan on push), log Docker in, tag, push. Prints the pushed image URI on stdout.
#
#   AWS_REGION=eu-west-1 IMAGE_TAG=v1.2.0 deploy/aws/ecr-push.sh estimator:boston
#
# Environment: AWS_REGION and IMAGE_TAG (required); ECR_REPOSITORY (default estimator);
# AWS_ACCOUNT_ID (default: the account of the current credentials); LOCAL_IMAGE (default
# estimator:latest, or the first argument).
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
require IMAGE_TAG
local_image=${1:-${LOCAL_IMAGE:-estimator:latest}}
uri="$ECR_REGISTRY/$ECR_REPOSITORY:$IMAGE_TAG"

if ! aws ecr describe-repositories --repository-names "$ECR_REPOSITORY" >/dev/null 2>&1; then
  log "creating the ECR repository $ECR_REPOSITORY"
  aws ecr create-repository --repository-name "$ECR_REPOSITORY" \
    --image-tag-mutability IMMUTABLE \
    --image-scanning-configuration scanOnPush=true \
    --encryption-configuration encryptionType=AES256 >/dev/null
fi

log "logging in to $ECR_REGISTRY"
aws ecr get-login-password | docker login --username AWS --password-stdin "$ECR_REGISTRY" >&2

log "pushing $local_image as $uri"
docker tag "$local_image" "$uri"
docker push "$uri" >&2
echo "$uri"
