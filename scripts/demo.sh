#!/usr/bin/env bash
# make demo: start MinIO (and PostgreSQL, Redis) on loopback, build the
# provider, and `terraform apply` examples/quickstart through a dev_overrides
# CLI config. Everything stays running and inspectable under .demo/;
# `make demo-down` (scripts/demo.sh down) stops it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEMO="$ROOT/.demo"
SERVICES="$DEMO/services"
cd "$ROOT"

if [[ "${1:-}" == "down" ]]; then
  go run ./internal/testenv/devenv down -dir "$SERVICES"
  echo "demo stopped; remove $DEMO to delete its data"
  exit 0
fi

BIN="$(only="apt terraform minio" scripts/install-tools.sh | tail -1)"
TF="$BIN/terraform"

echo "==> building the provider"
mkdir -p "$DEMO/bin"
go build -o "$DEMO/bin/terraform-provider-lifeboat" .
go build -o "$DEMO/bin/lifeboat" ./cmd/lifeboat

echo "==> starting local services (MinIO, PostgreSQL 15, Redis)"
go run ./internal/testenv/devenv up -dir "$SERVICES"
# shellcheck disable=SC1091
source "$SERVICES/env.sh"

cat >"$DEMO/terraformrc" <<CFG
provider_installation {
  dev_overrides {
    "lifeboat-dr/lifeboat" = "$DEMO/bin"
  }
  direct {}
}
disable_checkpoint = true
CFG
export TF_CLI_CONFIG_FILE="$DEMO/terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
# NOTE: with dev_overrides, `terraform init` would still ask the registry;
# plan and apply work without it.
mkdir -p "$DEMO/quickstart"
cp examples/quickstart/*.tf "$DEMO/quickstart/"
cd "$DEMO/quickstart"

export TF_VAR_pg_dsn="$LIFEBOAT_PG_DSN"
export TF_VAR_agent_path="$DEMO/bin/lifeboat"
export TF_VAR_agent_config_path="$SERVICES/lifeboat-agent.json"

apply() {
  "$TF" apply -auto-approve -input=false -no-color >"$DEMO/apply.log" 2>&1 || { cat "$DEMO/apply.log"; echo "apply failed"; exit 1; }
  grep -E "^(lifeboat_|Apply complete|Warning:)" "$DEMO/apply.log" | grep -v "Provider development overrides" || true
}

echo "==> terraform apply (examples/quickstart)"
apply

if [[ "$("$TF" output -json wal_archive | sed -n 's/.*"pending_restart":\(true\|false\).*/\1/p')" == "true" ]]; then
  echo "==> archive_mode waits for a restart: restarting PostgreSQL, then applying again to verify archiving"
  PGDATA_DIR="$SERVICES/postgres/data"
  runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$PGDATA_DIR" -m fast -w restart \
    -l "$SERVICES/postgres/postgres.log" >/dev/null
  head -1 "$PGDATA_DIR/postmaster.pid" >"$SERVICES/postgres.pid"
  apply
fi

echo "==> outputs"
"$TF" output -no-color

echo "==> a second plan must be empty (no drift)"
"$TF" plan -detailed-exitcode -input=false -no-color >/dev/null

cat <<MSG

Demo is up. Inspect it:
  source $SERVICES/env.sh
  cd $DEMO/quickstart && TF_CLI_CONFIG_FILE=$DEMO/terraformrc $TF show
  service logs: $SERVICES/*/*.log
Stop it:  make demo-down
MSG
