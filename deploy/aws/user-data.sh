#!/bin/bash
# First boot of the EC2 instance (Amazon Linux 2023), as root. ec2-deploy.sh puts above
# this script the settings (AWS_REGION, IMAGE_URI, ADMIN_TOKEN_PARAMETER) and a command
# writing estimator-run.sh to /usr/local/bin/estimator-run, which later rollouts call
# again through SSM with a new image.
set -euo pipefail
: "${AWS_REGION:?}" "${IMAGE_URI:?}"
ADMIN_TOKEN_PARAMETER=${ADMIN_TOKEN_PARAMETER:-}

dnf install -y docker
systemctl enable --now docker

install -d -m 0700 /etc/estimator
cat >/etc/estimator/deploy.env <<SETTINGS
AWS_REGION=$AWS_REGION
ADMIN_TOKEN_PARAMETER=$ADMIN_TOKEN_PARAMETER
SETTINGS

chmod 0755 /usr/local/bin/estimator-run

/usr/local/bin/estimator-run "$IMAGE_URI"
