# shellcheck shell=bash
# Shared by the deploy/aws scripts: parameters from the environment, checked up front.
# Nothing secret lives here or in the repository: credentials come from the AWS CLI's
# usual chain (a profile, SSO, or the OIDC role the release workflow assumes).

# require NAME...: stop with one line naming every variable that is unset.
require() {
  local missing=() name
  for name in "$@"; do
    [ -n "${!name:-}" ] || missing+=("$name")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "error: set ${missing[*]} (see docs/deploy.md)" >&2
    exit 2
  fi
}

log() { echo "==> $*" >&2; }

require AWS_REGION
export AWS_DEFAULT_REGION="$AWS_REGION" AWS_PAGER=""
ECR_REPOSITORY=${ECR_REPOSITORY:-estimator}
AWS_ACCOUNT_ID=${AWS_ACCOUNT_ID:-$(aws sts get-caller-identity --query Account --output text)}
ECR_REGISTRY="$AWS_ACCOUNT_ID.dkr.ecr.$AWS_REGION.amazonaws.com"
export ECR_REPOSITORY AWS_ACCOUNT_ID ECR_REGISTRY
