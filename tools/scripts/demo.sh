#!/usr/bin/env bash
# make demo: start MinIO, PostgreSQL 15 and Redis on loopback, seed three
# Odoo-like tenants, build the provider, and `terraform apply`
# examples/quickstart through a dev_overrides CLI config: an immutable
# repository, WAL archiving, a backup policy with a first backup. Then an
# accident in one tenant, a `terraform plan` of the tenant restore naming its
# recovery point, and the apply that restores it beside the live one.
# Everything stays running and inspectable under .demo/; `make demo-down`
# (tools/scripts/demo.sh down) stops it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEMO="$ROOT/.demo"
SERVICES="$DEMO/services"
cd "$ROOT"

if [[ "${1:-}" == "down" ]]; then
  go run ./internal/testenv/devenv down -dir "$SERVICES"
  echo "demo stopped; remove $DEMO to delete its data"
  exit 0
fi

BIN="$(only="apt terraform minio mc" tools/scripts/install-tools.sh | tail -1)"
TF="$BIN/terraform"

echo "==> building the provider and the agent"
mkdir -p "$DEMO/bin"
go build -o "$DEMO/bin/terraform-provider-lifeboat" .
go build -o "$DEMO/bin/lifeboat" ./cmd/lifeboat
go build -o "$DEMO/bin/devenv" ./internal/testenv/devenv

echo "==> starting local services (MinIO, PostgreSQL 15 with archive_mode on, Redis)"
rm -rf "$DEMO/quickstart"
"$DEMO/bin/devenv" up -dir "$SERVICES" -archive-ready
# shellcheck disable=SC1091
source "$SERVICES/env.sh"

echo "==> seeding three Odoo-like tenants with attachments in a versioned filestore bucket"
"$DEMO/bin/devenv" seed

cat >"$DEMO/terraformrc" <<CFG
provider_installation {
  dev_overrides {
    "lifeboat-dr/lifeboat" = "$DEMO/bin"
  }
  direct {}
}
disable_checkpoint = true
CFG
echo "==> creating the agent's writer identity in MinIO from the writer's policy document (mc)"
eval "$("$DEMO/bin/devenv" writer -dir "$SERVICES" -bucket lifeboat-demo-repository -prefix pg -cluster odoo-main)"

export TF_CLI_CONFIG_FILE="$DEMO/terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
export TF_VAR_pg_dsn="$LIFEBOAT_PG_DSN"
export TF_VAR_redis_sessions_addr="$LIFEBOAT_REDIS_ADDR" TF_VAR_redis_cache_addr="$LIFEBOAT_REDIS_CACHE_ADDR"
export TF_VAR_agent_path="$DEMO/bin/lifeboat"
export TF_VAR_agent_config_path="$SERVICES/lifeboat-agent.json"
export TF_VAR_drill_scratch_dir="$DEMO/drills"
mkdir -p "$DEMO/drills" && chmod 755 "$DEMO/drills"
# NOTE: with dev_overrides, `terraform init` would still ask the registry;
# plan and apply work without it.
mkdir -p "$DEMO/quickstart"
cp examples/quickstart/*.tf "$DEMO/quickstart/"
cd "$DEMO/quickstart"

apply() {
  "$TF" apply -auto-approve -input=false -no-color "$@" >"$DEMO/apply.log" 2>&1 || { cat "$DEMO/apply.log"; echo "apply failed"; exit 1; }
  grep -E "^(lifeboat_|data\.lifeboat_|Apply complete|Warning:)" "$DEMO/apply.log" | grep -v "Provider development overrides" || true
}

echo "==> terraform apply (examples/quickstart): repository, WAL archiving, backup policy with a first backup"
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
"$TF" output -no-color repository_posture
"$TF" output -no-color wal_archive
"$TF" output -no-color recovery_points
"$TF" output -no-color redis
echo "==> the drill run on apply"
"$TF" output -no-color drill

echo "==> starting the agent daemon (schedules from the repository, Prometheus metrics)"
AGENT_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
setsid "$DEMO/bin/lifeboat" agent --config "$SERVICES/lifeboat-agent.json" --pg-dsn "$LIFEBOAT_PG_DSN" --host demo-db \
  --pg-bindir /usr/lib/postgresql/15/bin --listen "127.0.0.1:$AGENT_PORT" >"$SERVICES/agent.log" 2>&1 < /dev/null &
echo $! >"$SERVICES/agent.pid"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$AGENT_PORT/healthz" >/dev/null && break; sleep 0.2; done
for _ in $(seq 50); do # the first refresh reads the policy, the catalog and the drill evidence
  curl -sf "http://127.0.0.1:$AGENT_PORT/metrics" | grep -q '^lifeboat_drill_success' && break; sleep 0.2
done
echo "metrics: http://127.0.0.1:$AGENT_PORT/metrics"
echo "==> the agent runs as the writer: not the provider's keys, and its probe finds every forbidden action denied"
AGENT_KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("access_key", ""))' "$SERVICES/lifeboat-agent.json")
[[ -n "$AGENT_KEY" && "$AGENT_KEY" != "$AWS_ACCESS_KEY_ID" ]] || { echo "the agent configuration holds the provider's keys ($AGENT_KEY)"; exit 1; }
PROBE=""
for _ in $(seq 150); do # the agent probes its keys at start
  PROBE=$(curl -sf "http://127.0.0.1:$AGENT_PORT/metrics" | grep '^lifeboat_writer_forbidden_actions_allowed' || true)
  [[ -n "$PROBE" ]] && break; sleep 0.2
done
echo "$PROBE"
[[ -n "$PROBE" ]] && ! grep -qv ' 0$' <<<"$PROBE" || { echo "the agent's writer probe found an allowed forbidden action, or did not run"; exit 1; }
curl -sf "http://127.0.0.1:$AGENT_PORT/metrics" | grep -E '^lifeboat_(backup_last_success_timestamp_seconds|backup_bytes|wal_archive_lag_seconds|drill_success|drill_rto_seconds|drill_rto_target_seconds|repository_size_bytes)' || true

echo "==> an accident in tenant acme_logistics"
sleep 2
POINT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 2
"$DEMO/bin/devenv" incident
psql -XAtqc "SELECT pg_switch_wal()" >/dev/null
for _ in $(seq 60); do # wait until that WAL is archived
  ready=$(ls "$SERVICES/postgres/data/pg_wal/archive_status" | grep -c '\.ready$' || true)
  [[ "$ready" == 0 ]] && break
  sleep 0.5
done

# The agent executor: a cluster restore rehearsal the agent on host demo-db
# performs (the database host), requested through the repository.
REHEARSAL_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REHEARSAL=(-var "agent_host=demo-db" -var "rehearsal_dir=$SERVICES/rehearsal" -var "rehearsal_port=$REHEARSAL_PORT")
rm -rf "$SERVICES/rehearsal"

echo "==> terraform plan of restoring acme_logistics to $POINT (before the accident), and of a cluster restore rehearsal by the agent on demo-db"
"$TF" plan -input=false -no-color -var "restore_point_in_time=$POINT" "${REHEARSAL[@]}" -out "$DEMO/restore.tfplan" >"$DEMO/plan.log" 2>&1 || { cat "$DEMO/plan.log"; exit 1; }
sed -n '/# lifeboat_restore.acme\[0\] will be created/,/^    }$/p' "$DEMO/plan.log" | grep -E "will be created|kind|point_in_time|recovery_source|wal_range|database|source_database|prefix" || true

echo "==> terraform apply of that plan: the restore runs"
"$TF" apply -input=false -no-color "$DEMO/restore.tfplan" >"$DEMO/apply.log" 2>&1 || { cat "$DEMO/apply.log"; echo "restore failed"; exit 1; }
grep -E "^(lifeboat_restore|Apply complete|Warning:)" "$DEMO/apply.log" || true
"$TF" output -no-color restore
echo "==> the rehearsal the agent performed (request, progress and result in the repository)"
"$TF" output -no-color rehearsal

echo "==> a second plan must be empty (no drift)"
"$TF" plan -detailed-exitcode -input=false -no-color -var "restore_point_in_time=$POINT" "${REHEARSAL[@]}" >/dev/null

echo "==> removing the rehearsal: a request the agent executes (stops the server, deletes the directory)"
"$TF" apply -auto-approve -input=false -no-color -var "restore_point_in_time=$POINT" >"$DEMO/apply.log" 2>&1 || { cat "$DEMO/apply.log"; echo "removing the rehearsal failed"; exit 1; }
grep -E "^(lifeboat_restore|Apply complete)" "$DEMO/apply.log" || true
[[ ! -e "$SERVICES/rehearsal" ]] || { echo "the rehearsal's directory is still there"; exit 1; }

echo "==> the posture report: every control with its evidence and standards, the trends; stored under object lock for auditors"
# The bucket's configuration (lock, versioning, lifecycle, encryption) is read with an auditor's
# keys, made from the auditor's policy document: the agent's writer keys may not read all of it.
eval "$("$DEMO/bin/devenv" auditor -dir "$SERVICES" -bucket lifeboat-demo-repository -prefix pg)"
export LIFEBOAT_AUDITOR_ACCESS_KEY LIFEBOAT_AUDITOR_SECRET_KEY
REPORT="$DEMO/posture-report.html"
rc=0
"$DEMO/bin/lifeboat" posture report --config "$SERVICES/lifeboat-agent.json" --pg-dsn "$LIFEBOAT_PG_DSN" \
  --format html -o "$REPORT" --store 2>"$DEMO/posture.log" || rc=$?
# Exit 1 means a control fails (the demo's one-day lock, its young window): the report is written.
[[ $rc -le 1 && -s "$REPORT" ]] || { cat "$DEMO/posture.log"; echo "the posture report failed"; exit 1; }
grep -E "^posture report stored" "$DEMO/posture.log" || { cat "$DEMO/posture.log"; echo "the posture report was not stored"; exit 1; }
"$DEMO/bin/lifeboat" posture report --config "$SERVICES/lifeboat-agent.json" --pg-dsn "$LIFEBOAT_PG_DSN" --format json 2>/dev/null |
  python3 -c 'import json,sys,collections; r=json.load(sys.stdin); c=collections.Counter(f["status"] for f in r["findings"]); print("controls: " + ", ".join(f"{c[s]} {s}" for s in ("fail","warn","unknown","pass")))' || true
echo "posture report: $REPORT"

cat <<MSG

Demo is up. Inspect it:
  source $SERVICES/env.sh
  psql -d acme_logistics_restored -c 'select count(*) from stock_picking'   # the restored tenant
  psql -d acme_logistics -c 'select count(*) from stock_picking'            # the live one, untouched
  cd $DEMO/quickstart && TF_CLI_CONFIG_FILE=$DEMO/terraformrc $TF show
  agent metrics: curl http://127.0.0.1:$AGENT_PORT/metrics   (log: $SERVICES/agent.log)
  posture report: $REPORT   (and under audit/posture/ in the repository: $DEMO/posture.log)
  service logs: $SERVICES/*/*.log
Stop it:  make demo-down
MSG
