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
# The platform runs signed, as the README recommends: the provider signs the
# schedules (LIFEBOAT_SIGNING_KEY), the agent signs the drill index with its
# own key, and the tenants trust it (evidence_trusted_keys), so refresh
# verifies the index and each schedule and evidence in it.
#
# A third configuration measures Terraform's own floor: the same module
# structure (odoo-tenant's variables and validations, locals and outputs,
# for_each over the tenant map, the platform's outputs, one resource per
# tenant) with terraform_data in place of the drill schedule and of the
# bucket and policy, so no provider runs. A fourth, the bare module, drops
# the validations and outputs too: what a for_each module with these inputs
# costs Terraform before the module does anything.
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

# --- signing: the provider's key, the agent's key, each trusting the other --
PROVIDER_KEYS=$("$W/lifeboat" keygen)
LIFEBOAT_SIGNING_KEY=$(awk '/^private:/ {print $2}' <<<"$PROVIDER_KEYS")
export LIFEBOAT_SIGNING_KEY
PROVIDER_PUB=$(awk '/^public:/ {print $2}' <<<"$PROVIDER_KEYS")
AGENT_PUB=$("$W/lifeboat" keygen --out "$W/agent.key")
python3 - "$W/agent.json" "$W/agent.key" "$PROVIDER_PUB" "$W/modules/odoo-platform/terraform.tfvars.json" "$AGENT_PUB" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg.update(signing_key_file=sys.argv[2], trusted_keys=[sys.argv[3]])
json.dump(cfg, open(sys.argv[1], "w"))
tf = json.load(open(sys.argv[4]))
tf["evidence_trusted_keys"] = [sys.argv[5]]
json.dump(tf, open(sys.argv[4], "w"))
PY

# --- the floor: the module structure with terraform_data, no provider --------
# The module's own variables (with their validations), locals and outputs,
# and the platform's outputs, taken from the files themselves so the floor
# stays the module's shape: only the resources are terraform_data (the
# drill schedule's computed results null, as before a first drill).
mkdir -p "$W/floor/odoo-tenant" "$W/floor/platform"
cp "$REPO/examples/modules/odoo-tenant/variables.tf" "$W/floor/odoo-tenant/"
awk '/^locals \{/,/^\}/' "$REPO/examples/modules/odoo-tenant/main.tf" >"$W/floor/odoo-tenant/locals.tf"
sed -e 's/lifeboat_drill_schedule\.tenant\.id/terraform_data.tenant.id/g' \
	-e 's/lifeboat_drill_schedule\.tenant\./terraform_data.tenant.output./g' \
	"$REPO/examples/modules/odoo-tenant/outputs.tf" >"$W/floor/odoo-tenant/outputs.tf"
if grep -qE "lifeboat_[a-z_]+\\.[a-z]" "$W/floor/odoo-tenant/locals.tf" "$W/floor/odoo-tenant/outputs.tf"; then
	log "the floor's module still names a lifeboat resource: update bench-plan.sh's floor"
	exit 1
fi
cat >"$W/floor/odoo-tenant/main.tf" <<'TF'
resource "terraform_data" "tenant" {
  input = {
    name = "tenant-${var.name}", cluster = var.cluster, schedule = var.drill_schedule, kind = "tenant", database = local.database,
    bucket = var.repository.bucket, prefix = var.repository.prefix, dsn = var.postgres_dsn, rpo = var.rpo, rto = var.rto,
    run_on_apply = var.run_drill_on_apply, evidence_trusted_keys = var.evidence_trusted_keys,
    attachments = local.has_attachments ? { bucket = var.attachments_bucket, prefix = local.attachments_prefix } : null
    last_drill_result = null, last_drill_time = null, last_achieved_rto_seconds = null, last_failures = null, last_evidence_key = null
  }
}
TF
cat >"$W/floor/platform/main.tf" <<'TF'
variable "tenants" {
  type = map(object({ rpo = string, rto = string, priority_group = string, drill_schedule = string }))
}
resource "terraform_data" "repository" {
  input = { name = "bench-platform", mode = "GOVERNANCE", days = 1 }
}
module "tenant" {
  source         = "../odoo-tenant"
  for_each       = var.tenants
  name           = each.key
  cluster        = "odoo-main"
  repository     = { bucket = terraform_data.repository.output.name, prefix = "pg" }
  postgres_dsn   = "postgres://lifeboat@127.0.0.1:5432/postgres"
  rpo            = each.value.rpo
  rto            = each.value.rto
  priority_group = each.value.priority_group
  drill_schedule = each.value.drill_schedule
}
resource "terraform_data" "policy" {
  input = { cluster = "odoo-main", tenant_databases = [for t in module.tenant : t.posture.database] }
}
TF
awk '/^output "/,/^\}/' "$REPO/examples/modules/odoo-platform/main.tf" >"$W/floor/platform/outputs.tf"
cp "$W/data/terraform.tfvars.json" "$W/floor/platform/"
# The bare floor: the same inputs, locals and tenant resource, without the
# validations and with the one output reduced to what the policy reads, and
# no platform outputs: what any for_each module with these inputs costs.
mkdir -p "$W/bare/odoo-tenant" "$W/bare/platform"
awk '/^  validation \{/ { skip = 1 } !skip { print } skip && /^  \}/ { skip = 0 }' \
	"$W/floor/odoo-tenant/variables.tf" >"$W/bare/odoo-tenant/variables.tf"
cp "$W/floor/odoo-tenant/locals.tf" "$W/floor/odoo-tenant/main.tf" "$W/bare/odoo-tenant/"
echo 'output "posture" { value = { database = local.database } }' >"$W/bare/odoo-tenant/outputs.tf"
cp "$W/floor/platform/main.tf" "$W/data/terraform.tfvars.json" "$W/bare/platform/"

log "applying the platform ($N tenants) and $N terraform_data"
(cd "$W/modules/odoo-platform" && "$TF" get -no-color >/dev/null &&
	"$TF" apply -auto-approve -input=false -no-color >"$W/apply-platform.log" 2>&1) || { tail -30 "$W/apply-platform.log"; exit 1; }
(cd "$W/data" && "$TF" init -input=false -no-color >/dev/null && "$TF" apply -auto-approve -input=false -no-color >"$W/apply-data.log" 2>&1) ||
	{ tail -30 "$W/apply-data.log"; exit 1; }
(cd "$W/floor/platform" && "$TF" init -input=false -no-color >/dev/null && "$TF" apply -auto-approve -input=false -no-color >"$W/apply-floor.log" 2>&1) ||
	{ tail -30 "$W/apply-floor.log"; exit 1; }
(cd "$W/bare/platform" && "$TF" init -input=false -no-color >/dev/null && "$TF" apply -auto-approve -input=false -no-color >"$W/apply-bare.log" 2>&1) ||
	{ tail -30 "$W/apply-bare.log"; exit 1; }

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
log "planning the module structure with terraform_data (Terraform's floor), $RUNS times"
best "$W/floor/platform"
F_WALL=$WALL F_CPU=$CPU
log "planning the bare module with terraform_data (no validations, no outputs), $RUNS times"
best "$W/bare/platform"
B_WALL=$WALL B_CPU=$CPU

RATIO=$(bench_ratio "$P_WALL" "$D_WALL")
CPU_RATIO=$(bench_ratio "$P_CPU" "$D_CPU")
printf '\n%-52s %12s %12s %8s\n' "measure ($N tenants)" lifeboat terraform_data ratio
printf '%-52s %12s %12s %8s\n' "plan wall s (refresh on)" "$P_WALL" "$D_WALL" "$RATIO"
printf '%-52s %12s %12s %8s\n' "plan CPU s (Terraform + provider)" "$P_CPU" "$D_CPU" "$CPU_RATIO"
printf '%-52s %12s %12s %8s\n' "Terraform CPU s (the rest)" "$(awk -v a="$P_CPU" -v b="$P_PCPU" 'BEGIN { printf "%.2f", a - b }')" "$D_CPU" "$(bench_ratio "$(awk -v a="$P_CPU" -v b="$P_PCPU" 'BEGIN { print a - b }')" "$D_CPU")"
printf '%-52s %12s\n' "provider CPU s" "$P_PCPU"
printf '%-52s %12s %12s %8s\n' "floor: module + terraform_data, wall s" "$F_WALL" "$D_WALL" "$(bench_ratio "$F_WALL" "$D_WALL")"
printf '%-52s %12s %12s %8s\n' "floor: module + terraform_data, CPU s" "$F_CPU" "$D_CPU" "$(bench_ratio "$F_CPU" "$D_CPU")"
printf '%-52s %12s %12s %8s\n' "bare module + terraform_data, wall s" "$B_WALL" "$D_WALL" "$(bench_ratio "$B_WALL" "$D_WALL")"
printf '%-52s %12s %12s %8s\n' "bare module + terraform_data, CPU s" "$B_CPU" "$D_CPU" "$(bench_ratio "$B_CPU" "$D_CPU")"
printf '%-52s %12s\n' "S3 requests per plan (drill index)" "$P_REQS"
printf '%-52s %12s\n' "S3 requests per plan (no drill index yet)" "$REQS_NOINDEX"
printf '%-52s %12s\n' "provider peak RSS MiB" "$P_RSS"

bench_row plan "plan wall, $N tenants vs $N terraform_data (refresh on)" "${P_WALL}s" "${D_WALL}s" "$RATIO" "<=1.5" "$(bench_met "$RATIO" "<=" 1.5)"
bench_row plan "plan CPU s (Terraform + provider), $N tenants" "$P_CPU" "$D_CPU" "$CPU_RATIO" - -
bench_row plan "floor: the module with terraform_data, $N tenants vs $N terraform_data (plan wall)" "${F_WALL}s" "${D_WALL}s" "$(bench_ratio "$F_WALL" "$D_WALL")" - -
bench_row plan "floor: the module with terraform_data, $N tenants vs $N terraform_data (plan CPU s)" "$F_CPU" "$D_CPU" "$(bench_ratio "$F_CPU" "$D_CPU")" - -
bench_row plan "bare module (same inputs, no validations or outputs), $N tenants vs $N terraform_data (plan wall)" "${B_WALL}s" "${D_WALL}s" "$(bench_ratio "$B_WALL" "$D_WALL")" - -
bench_row plan "bare module, $N tenants vs $N terraform_data (plan CPU s)" "$B_CPU" "$D_CPU" "$(bench_ratio "$B_CPU" "$D_CPU")" - -
bench_row plan "S3 requests per plan, $N tenants (drill index)" "$P_REQS" - - "<=50" "$(bench_met "$P_REQS" "<=" 50)"
bench_row plan "S3 requests per plan, $N tenants (no drill index)" "$REQS_NOINDEX" - - - -
bench_row plan "provider peak RSS MiB, $N-tenant plan" "$P_RSS" - - "<=150" "$(bench_met "$P_RSS" "<=" 150)"
