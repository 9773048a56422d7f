#!/usr/bin/env bash
# make demo-pulumi: run examples/pulumi/yaml with the real Pulumi CLI (file
# backend, no Pulumi Cloud) against the local services `make demo` starts,
# starting them when they are not running: an immutable bucket in their MinIO
# and WAL archiving into it. State and logs stay under .demo/pulumi;
# `make demo-down` stops the services.
#
# NOTE: the WAL archive gets a PostgreSQL of its own (.demo/pulumi/services,
# archive_mode already on): a server has one archive_command, and the one of
# `make demo`'s server belongs to its Terraform quickstart.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEMO="$ROOT/.demo"
SERVICES="$DEMO/services"
PDEMO="$DEMO/pulumi"
PSERVICES="$PDEMO/services"
cd "$ROOT"

if [[ "${1:-}" == "down" ]]; then
  go run ./internal/testenv/devenv down -dir "$PSERVICES"
  exit 0
fi

BIN="$(only="pulumi mc" tools/scripts/install-tools.sh | tail -1)"

echo "==> building the Pulumi provider plugin and the agent"
mkdir -p "$PDEMO/bin" "$PDEMO/state" "$PDEMO/project" "$PDEMO/agent"
go build -o "$PDEMO/bin/pulumi-resource-lifeboat" ./provider/cmd/pulumi-resource-lifeboat
go build -o "$PDEMO/bin/lifeboat" ./cmd/lifeboat

services_up() {
  [[ -f "$SERVICES/env.sh" ]] || return 1
  # shellcheck disable=SC1091
  (source "$SERVICES/env.sh" && curl -fsS -o /dev/null "$LIFEBOAT_S3_ENDPOINT/minio/health/live") 2>/dev/null
}
if services_up; then
  echo "==> reusing the services of make demo ($SERVICES)"
else
  echo "==> starting local services (MinIO, PostgreSQL 15, Redis)"
  go run ./internal/testenv/devenv up -dir "$SERVICES"
fi
# The provider reads the endpoint and credentials from these (LIFEBOAT_S3_*, AWS_*).
# shellcheck disable=SC1091
source "$SERVICES/env.sh"

pg_up() {
  [[ -f "$PSERVICES/env.sh" ]] || return 1
  # shellcheck disable=SC1091
  (source "$PSERVICES/env.sh" && psql "$LIFEBOAT_PG_DSN" -XAtqc 'select 1') >/dev/null 2>&1
}
if pg_up; then
  echo "==> reusing the Pulumi demo's PostgreSQL ($PSERVICES)"
else
  echo "==> starting a PostgreSQL 15 for the Pulumi demo's WAL archive (archive_mode on)"
  go run ./internal/testenv/devenv up -dir "$PSERVICES" -minio 0 -redis=false -archive-ready
fi
PG_DSN="$(source "$PSERVICES/env.sh" && echo "$LIFEBOAT_PG_DSN")"
echo "==> creating the agent's writer identity in MinIO from the writer's policy document (mc)"
eval "$(go run ./internal/testenv/devenv writer -dir "$SERVICES" -bucket lifeboat-pulumi-demo -prefix pg -cluster pulumi-demo)"

export PATH="$BIN:$PATH"
export PULUMI_HOME="$PDEMO/home" PULUMI_BACKEND_URL="file://$PDEMO/state"
export PULUMI_CONFIG_PASSPHRASE="lifeboat-demo" PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DIY_BACKEND_NO_LEGACY_WARNING=true
# Install the plugin just built, as a user installs a release binary.
pulumi plugin install resource lifeboat 0.0.1-dev --file "$PDEMO/bin/pulumi-resource-lifeboat" --reinstall >/dev/null
cp examples/pulumi/yaml/Pulumi.yaml "$PDEMO/project/"
cd "$PDEMO/project"

pulumi stack select dev --create --non-interactive >/dev/null
pulumi config set bucketName lifeboat-pulumi-demo
# The DSN holds a password: a secret, encrypted in the stack's config and state.
pulumi config set --secret pgDsn "$PG_DSN"
pulumi config set cluster pulumi-demo
pulumi config set rpo 1m
pulumi config set agentPath "$PDEMO/bin/lifeboat"
pulumi config set agentConfigPath "$PDEMO/agent/pulumi-demo.json"
pulumi config set manageAgentConfigFile true
pulumi config set agentAccessKey "$TF_VAR_writer_access_key"
pulumi config set --secret agentSecretKey "$TF_VAR_writer_secret_key"
echo "==> pulumi up --refresh (examples/pulumi/yaml)"
# --refresh: `make demo` may have recreated the services since the last run.
pulumi up --refresh --yes --non-interactive --skip-preview --color never >"$PDEMO/up.log" 2>&1 ||
  { cat "$PDEMO/up.log"; echo "pulumi up failed"; exit 1; }
grep -vE '^\s*$' "$PDEMO/up.log" || true

echo "==> outputs"
pulumi stack output --color never

echo "==> a refresh and a preview must find no change (no drift)"
pulumi refresh --yes --non-interactive --skip-preview --color never >"$PDEMO/refresh.log" 2>&1
pulumi preview --expect-no-changes --non-interactive --color never >"$PDEMO/preview.log" 2>&1 ||
  { cat "$PDEMO/preview.log"; echo "unexpected changes"; exit 1; }
echo "no changes"

cat <<MSG

Pulumi demo is up. Inspect it:
  source $SERVICES/env.sh
  export PATH="$BIN:\$PATH" PULUMI_HOME="$PDEMO/home" PULUMI_BACKEND_URL="file://$PDEMO/state" PULUMI_CONFIG_PASSPHRASE=lifeboat-demo
  cd $PDEMO/project && pulumi stack
  source $PSERVICES/env.sh && psql -c 'show archive_command'   # the Pulumi demo's PostgreSQL
  destroy: (same environment) pulumi destroy --yes; stop the services: make demo-down
MSG
