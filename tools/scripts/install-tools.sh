#!/usr/bin/env bash
# Installs the pinned tools Lifeboat's tests, docs and demo need into a cache
# folder outside the work tree, skipping whatever is already there at the pinned
# version, so a fresh clone on the same machine does not rebuild them.
#
#   LIFEBOAT_TOOLS  cache folder (default: ${XDG_CACHE_HOME:-$HOME/.cache}/lifeboat-tools)
#   only=<names>    install only these (space separated): apt terraform minio mc pulumi tfplugindocs golangci-lint
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="${LIFEBOAT_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/lifeboat-tools}"
BIN="$TOOLS/bin"
mkdir -p "$BIN"

TERRAFORM_VERSION=v1.5.7
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MC_VERSION=v0.0.0-20250313080218-cf909e1063a9
PULUMI_VERSION=v3.274.1
PULUMI_YAML_VERSION=v1.25.0
TFPLUGINDOCS_VERSION=v0.25.0
GOLANGCI_LINT_VERSION=v2.15.0

want() { [[ -z "${only:-}" ]] || [[ " $only " == *" $1 "* ]]; }
have() { [[ -x "$BIN/$1" && -f "$BIN/.$1.version" && "$(cat "$BIN/.$1.version")" == "$2" ]]; }
stamp() { echo "$2" >"$BIN/.$1.version"; }
log() { echo "install-tools: $*" >&2; }

if want apt; then
  missing=()
  [[ -x /usr/lib/postgresql/15/bin/postgres ]] || missing+=(postgresql-15 postgresql-contrib)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v pgbackrest >/dev/null || missing+=(pgbackrest)
  # make bench: the peers' numbers, CPU seconds and peak RSS (GNU time), arithmetic.
  [[ -x /usr/bin/time ]] || missing+=(time)
  command -v bc >/dev/null || missing+=(bc)
  # The posture report's browser test opens the HTML report in Debian's
  # chromium, headless; fonts so the screenshot shows text.
  command -v chromium >/dev/null || missing+=(chromium fonts-dejavu-core)
  if ((${#missing[@]})); then
    log "apt: installing ${missing[*]}"
    if [[ $(id -u) -eq 0 ]]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts a default cluster and redis on install; the harness runs its own.
    $SUDO service postgresql stop >/dev/null 2>&1 || true
    $SUDO service redis-server stop >/dev/null 2>&1 || true
  fi
fi

if want terraform && ! have terraform "$TERRAFORM_VERSION"; then
  log "building terraform $TERRAFORM_VERSION"
  GOBIN="$BIN" GOFLAGS=-mod=mod go install "github.com/hashicorp/terraform@$TERRAFORM_VERSION"
  stamp terraform "$TERRAFORM_VERSION"
fi

if want minio && ! have minio "$MINIO_VERSION"; then
  log "building minio $MINIO_VERSION (run as a separate process only)"
  GOBIN="$BIN" go install "github.com/minio/minio@$MINIO_VERSION"
  stamp minio "$MINIO_VERSION"
fi

if want mc && ! have mc "$MC_VERSION"; then
  log "building mc $MC_VERSION (MinIO's client, a test tool for users and policies; a separate process only)"
  GOBIN="$BIN" go install "github.com/minio/mc@$MC_VERSION"
  stamp mc "$MC_VERSION"
fi

if want tfplugindocs && ! have tfplugindocs "$TFPLUGINDOCS_VERSION"; then
  log "building tfplugindocs $TFPLUGINDOCS_VERSION"
  (cd "$ROOT/tools" && go build -o "$BIN/tfplugindocs" github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs)
  stamp tfplugindocs "$TFPLUGINDOCS_VERSION"
fi

if want golangci-lint && ! have golangci-lint "$GOLANGCI_LINT_VERSION"; then
  log "building golangci-lint $GOLANGCI_LINT_VERSION"
  (cd "$ROOT/tools/lint" && go build -o "$BIN/golangci-lint" github.com/golangci/golangci-lint/v2/cmd/golangci-lint)
  stamp golangci-lint "$GOLANGCI_LINT_VERSION"
fi

if want pulumi; then
  if ! have pulumi "$PULUMI_VERSION"; then
    log "building pulumi $PULUMI_VERSION"
    (cd "$ROOT/tools/pulumi" && go build \
      -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
      -o "$BIN/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
    stamp pulumi "$PULUMI_VERSION"
  fi
  if ! have pulumi-language-yaml "$PULUMI_YAML_VERSION"; then
    log "building pulumi-language-yaml $PULUMI_YAML_VERSION"
    (cd "$ROOT/tools/pulumi-yaml" && go build -o "$BIN/pulumi-language-yaml" github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml)
    stamp pulumi-language-yaml "$PULUMI_YAML_VERSION"
  fi
fi

log "tools ready in $BIN"
echo "$BIN"
