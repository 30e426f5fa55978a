#!/bin/bash
# estimator-run IMAGE_URI: pull the image, replace the running container with it, wait for
# /ready; when it does not come, start the previous image again and fail.
# Installed by the user-data of ec2-deploy.sh; reads its settings from /etc/estimator.
set -euo pipefail
# shellcheck source=/dev/null
. /etc/estimator/deploy.env
: "${AWS_REGION:?missing in /etc/estimator/deploy.env}"
ADMIN_TOKEN_PARAMETER=${ADMIN_TOKEN_PARAMETER:-}
export AWS_DEFAULT_REGION=$AWS_REGION
image=$1
registry=${image%%/*}

aws ecr get-login-password | docker login --username AWS --password-stdin "$registry"
docker pull "$image"

env_file=$(mktemp)
trap 'rm -f "$env_file"' EXIT
if [ -n "$ADMIN_TOKEN_PARAMETER" ]; then
  printf 'ESTIMATOR_ADMIN_TOKEN=%s\n' "$(aws ssm get-parameter --name "$ADMIN_TOKEN_PARAMETER" \
    --with-decryption --query Parameter.Value --output text)" >"$env_file"
fi

start() {
  docker rm --force estimator >/dev/null 2>&1 || true
  docker run --detach --name estimator --restart unless-stopped --publish 5000:5000 \
    --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
    --env-file "$env_file" "$1" >/dev/null
}

ready() {
  for _ in $(seq 60); do
    curl --silent --fail --max-time 2 http://127.0.0.1:5000/ready >/dev/null && return 0
    sleep 1
  done
  return 1
}

previous=$(docker inspect --format '{{.Config.Image}}' estimator 2>/dev/null || true)
start "$image"
if ready; then
  echo "serving $image"
  exit 0
fi
docker logs --tail 30 estimator >&2 || true
if [ -n "$previous" ] && [ "$previous" != "$image" ]; then
  echo "$image did not become ready; back to $previous" >&2
  start "$previous"
  ready || echo "$previous did not become ready either" >&2
fi
exit 1
