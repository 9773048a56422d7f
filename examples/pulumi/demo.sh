#!/usr/bin/env bash
# make demo-pulumi: run examples/pulumi/yaml with the real Pulumi CLI (file
# backend, no Pulumi Cloud) against the local services `make demo` starts,
# starting them when they are not running. State and logs stay under
# .demo/pulumi; `make demo-down` stops the services.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEMO="$ROOT/.demo"
SERVICES="$DEMO/services"
PDEMO="$DEMO/pulumi"
cd "$ROOT"

BIN="$(only="pulumi" scripts/install-tools.sh | tail -1)"

echo "==> building the Pulumi provider plugin"
mkdir -p "$PDEMO/bin" "$PDEMO/state" "$PDEMO/project"
go build -o "$PDEMO/bin/pulumi-resource-lifeboat" ./provider/cmd/pulumi-resource-lifeboat

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
echo "==> pulumi up (examples/pulumi/yaml)"
pulumi up --yes --non-interactive --skip-preview --color never >"$PDEMO/up.log" 2>&1 ||
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
  destroy: (same environment) pulumi destroy --yes; stop the services: make demo-down
MSG
