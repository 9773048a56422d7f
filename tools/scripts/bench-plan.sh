#!/usr/bin/env bash
# bench-plan.sh: `terraform plan` (refresh on) of the tenant platform
# (examples/modules/odoo-platform: one bucket, one backup policy over every
# tenant database, one odoo-tenant module instance with its drill schedule
# per tenant) against the same number of terraform_data resources, in the
# same run. Measures, for the platform: wall time, S3 requests per plan
# (LIFEBOAT_S3_REQUEST_LOG, with and without the agent's drill index), the
# provider process' peak RSS and CPU seconds (the provider runs under
# /usr/bin/time through a dev_overrides wrapper), and Terraform's plus the
# provider's CPU seconds against terraform_data's.
#
# Usage: tools/scripts/bench-plan.sh [TENANTS, default 500]
# Each plan is run RUNS times (3) after a warm-up; the fastest counts.
# Needs: Terraform and MinIO in ~/.cache/lifeboat-tools/bin, Go, /usr/bin/time.
set -euo pipefail

N=${1:-${TENANTS:-500}}
RUNS=${RUNS:-3}
BENCH_NAME=plan
# shellcheck source=tools/scripts/bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
TF=${TF:-${LIFEBOAT_TOOLS:-$HOME/.cache/lifeboat-tools}/bin/terraform}

echo "bench-plan: $N tenants, $(nproc) cores, Terraform $("$TF" version | head -1 | awk '{print $2}'), MinIO over TLS, best of $RUNS plans after a warm-up"

# --- the provider, under /usr/bin/time ----------------------------------------
mkdir -p "$W/bin"
# PROVIDER_BIN= runs another build (a profiling one) in its place.
if [ -n "${PROVIDER_BIN:-}" ]; then cp "$PROVIDER_BIN" "$W/bin/provider.real"; else (cd "$REPO" && go build -o "$W/bin/provider.real" .); fi
cat >"$W/bin/terraform-provider-lifeboat" <<SH
#!/bin/sh
# peak RSS (KiB), user and system CPU seconds of each provider process
exec /usr/bin/time -a -o "$W/provider.time" -f "%M %U %S" "$W/bin/provider.real" "\$@"
SH
chmod 755 "$W/bin/terraform-provider-lifeboat"
cat >"$W/terraformrc" <<CFG
provider_installation {
  dev_overrides {
    "lifeboat-dr/lifeboat" = "$W/bin"
  }
  direct {}
}
disable_checkpoint = true
CFG
export TF_CLI_CONFIG_FILE="$W/terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
export AWS_ENDPOINT_URL="https://127.0.0.1:$S3PORT" AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_REGION=us-east-1
export LIFEBOAT_S3_PATH_STYLE=1 LIFEBOAT_S3_INSECURE=1

# --- the two configurations ---------------------------------------------------
mkdir -p "$W/modules" "$W/data"
cp -r "$REPO/examples/modules/odoo-tenant" "$REPO/examples/modules/odoo-platform" "$W/modules/"
python3 - "$N" "$W/modules/odoo-platform/terraform.tfvars.json" "$W/data/terraform.tfvars.json" <<'PY'
import json, sys
n = int(sys.argv[1])
groups = ["warehouse", "transport", "finance"]
tenants = {f"tenant{i:04d}": {"rpo": "15m", "rto": "1h", "priority_group": groups[i % 3],
                              "drill_schedule": f"{i % 60} {(i // 60) % 24} * * {i % 7}"} for i in range(n)}
json.dump({"bucket": "bench-platform", "lock_mode": "GOVERNANCE", "retention_days": 1, "cluster": "odoo-main",
           "pg_dsn": "postgres://lifeboat@127.0.0.1:5432/postgres", "tenants": tenants}, open(sys.argv[2], "w"))
json.dump({"tenants": tenants}, open(sys.argv[3], "w"))
PY
cat >"$W/data/main.tf" <<'TF'
variable "tenants" {
  type = map(object({ rpo = string, rto = string, priority_group = string, drill_schedule = string }))
}
resource "terraform_data" "tenant" {
  for_each = var.tenants
  input    = each.value
}
TF
cat >"$W/agent.json" <<JSON
{"endpoint":"https://127.0.0.1:$S3PORT","path_style":true,"skip_tls_verify":true,
 "access_key":"$AK","secret_key":"$SK","bucket":"bench-platform","prefix":"pg","cluster":"odoo-main"}
JSON
chmod 600 "$W/agent.json"

log "applying the platform ($N tenants) and $N terraform_data"
(cd "$W/modules/odoo-platform" && "$TF" get -no-color >/dev/null &&
	"$TF" apply -auto-approve -input=false -no-color >"$W/apply-platform.log" 2>&1) || { tail -30 "$W/apply-platform.log"; exit 1; }
(cd "$W/data" && "$TF" init -input=false -no-color >/dev/null && "$TF" apply -auto-approve -input=false -no-color >"$W/apply-data.log" 2>&1) ||
	{ tail -30 "$W/apply-data.log"; exit 1; }

# plan_once DIR: one `terraform plan` (refresh on), its wall and CPU seconds
# (Terraform and its children) in $WALL $CPU, its S3 requests in $REQS, the
# provider's peak RSS (MiB) and CPU seconds in $RSS $PCPU.
plan_once() {
	: >"$W/requests.log"
	: >"$W/provider.time"
	/usr/bin/time -o "$W/tf.time" -f "%e %U %S" env LIFEBOAT_S3_REQUEST_LOG="$W/requests.log" \
		"$TF" -chdir="$1" plan -input=false -no-color -lock=false -detailed-exitcode >"$W/plan.log" 2>&1 ||
		{ [ $? -eq 2 ] && { log "plan of $1 is not empty"; grep -E '^  # ' "$W/plan.log" | head >&2; }; }
	read -r WALL u s <"$W/tf.time"
	CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
	REQS=$(wc -l <"$W/requests.log")
	RSS=$(awk '{ if ($1 > m) m = $1 } END { printf "%.0f", m / 1024 }' "$W/provider.time")
	PCPU=$(awk '{ c += $2 + $3 } END { printf "%.2f", c }' "$W/provider.time")
}

# best DIR: the fastest of RUNS plans after a warm-up (its other measures with it).
best() {
	plan_once "$1"
	local bw="" bc="" br="" brss="" bp=""
	for _ in $(seq "$RUNS"); do
		plan_once "$1"
		if [ -z "$bw" ] || awk -v a="$WALL" -v b="$bw" 'BEGIN { exit !(a < b) }'; then
			bw=$WALL bc=$CPU br=$REQS brss=$RSS bp=$PCPU
		fi
	done
	WALL=$bw CPU=$bc REQS=$br RSS=$brss PCPU=$bp
}

log "planning the platform without the drill index"
plan_once "$W/modules/odoo-platform"
REQS_NOINDEX=$REQS
log "writing the drill index (what the agent keeps)"
"$W/lifeboat" drill index --config "$W/agent.json" >&2
log "planning the platform, $RUNS times"
best "$W/modules/odoo-platform"
P_WALL=$WALL P_CPU=$CPU P_REQS=$REQS P_RSS=$RSS P_PCPU=$PCPU
log "planning $N terraform_data, $RUNS times"
best "$W/data"
D_WALL=$WALL D_CPU=$CPU

RATIO=$(bench_ratio "$P_WALL" "$D_WALL")
CPU_RATIO=$(bench_ratio "$P_CPU" "$D_CPU")
printf '\n%-52s %12s %12s %8s\n' "measure ($N tenants)" lifeboat terraform_data ratio
printf '%-52s %12s %12s %8s\n' "plan wall s (refresh on)" "$P_WALL" "$D_WALL" "$RATIO"
printf '%-52s %12s %12s %8s\n' "plan CPU s (Terraform + provider)" "$P_CPU" "$D_CPU" "$CPU_RATIO"
printf '%-52s %12s\n' "provider CPU s" "$P_PCPU"
printf '%-52s %12s\n' "S3 requests per plan (drill index)" "$P_REQS"
printf '%-52s %12s\n' "S3 requests per plan (no drill index yet)" "$REQS_NOINDEX"
printf '%-52s %12s\n' "provider peak RSS MiB" "$P_RSS"

bench_row plan "plan wall, $N tenants vs $N terraform_data (refresh on)" "${P_WALL}s" "${D_WALL}s" "$RATIO" "<=1.5" "$(bench_met "$RATIO" "<=" 1.5)"
bench_row plan "plan CPU s (Terraform + provider), $N tenants" "$P_CPU" "$D_CPU" "$CPU_RATIO" - -
bench_row plan "S3 requests per plan, $N tenants (drill index)" "$P_REQS" - - "<=50" "$(bench_met "$P_REQS" "<=" 50)"
bench_row plan "S3 requests per plan, $N tenants (no drill index)" "$REQS_NOINDEX" - - - -
bench_row plan "provider peak RSS MiB, $N-tenant plan" "$P_RSS" - - "<=150" "$(bench_met "$P_RSS" "<=" 150)"
