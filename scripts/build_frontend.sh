#!/usr/bin/env bash
# Install the browser client's pinned npm packages and copy only the built files the page loads
# into frontend/vendor/ (gitignored; the server serves it at /vendor/).
#
#   scripts/build_frontend.sh           # skip when vendor/ matches package-lock.json
#   scripts/build_frontend.sh --force   # always rebuild
#
# Idempotent: a stamp (hash of package-lock.json and this script) makes a second run a no-op.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FRONTEND="$ROOT/frontend"
VENDOR="$FRONTEND/vendor"
STAMP="$VENDOR/.stamp"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

log() { printf 'build_frontend: %s\n' "$*" >&2; }

hash_inputs() {
  local files=("$FRONTEND/package.json" "${BASH_SOURCE[0]}")
  [[ -f "$FRONTEND/package-lock.json" ]] && files+=("$FRONTEND/package-lock.json")
  cat "${files[@]}" | sha256sum | cut -d' ' -f1
}

ensure_npm() {
  command -v npm >/dev/null 2>&1 && return 0
  if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
    log "npm is missing; installing nodejs and npm with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
    return 0
  fi
  log "npm is missing. Install it first, e.g.:  sudo apt-get install -y nodejs npm"
  exit 1
}

WANT="$(hash_inputs)"
if [[ $FORCE == 0 && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
  log "frontend/vendor is up to date"
  exit 0
fi

ensure_npm
cd "$FRONTEND"
if [[ -f package-lock.json ]]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
else
  log "npm install (no package-lock.json yet)"
  npm install --no-audit --no-fund --loglevel=error
fi

MODULES="$FRONTEND/node_modules"
HLJS="$MODULES/@highlightjs/cdn-assets"
STAGE="$(mktemp -d "$FRONTEND/.vendor.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT

# copy SRC DEST: drop the sourceMappingURL comment (the maps are not shipped).
copy() { sed '/^\/\/# sourceMappingURL=/d; s#/\*\# sourceMappingURL=[^*]*\*/##' "$1" >"$STAGE/$2"; }

copy "$MODULES/marked/lib/marked.esm.js" marked.esm.js
# .mjs is not a registered MIME type everywhere; module scripts need a JavaScript type.
copy "$MODULES/dompurify/dist/purify.es.mjs" purify.es.js
copy "$HLJS/es/highlight.min.js" highlight.es.min.js
copy "$HLJS/styles/github.min.css" hljs-light.css
copy "$HLJS/styles/github-dark.min.css" hljs-dark.css
# Mermaid (workflow run cards) as its single-file browser build; loaded by the page only when a
# run card is shown (it is large), from this server like every other vendor file.
copy "$MODULES/mermaid/dist/mermaid.min.js" mermaid.min.js

mkdir -p "$STAGE/licenses"
cp "$MODULES/marked/LICENSE" "$STAGE/licenses/marked.txt"
cp "$MODULES/dompurify/LICENSE" "$STAGE/licenses/dompurify.txt"
cp "$HLJS/LICENSE" "$STAGE/licenses/highlight.js.txt"
cp "$MODULES/mermaid/LICENSE" "$STAGE/licenses/mermaid.txt"
node -e '
  const lock = require(process.argv[1]).packages;
  const pick = (n) => `${n} ${lock["node_modules/" + n].version}`;
  console.log(["marked", "dompurify", "@highlightjs/cdn-assets", "mermaid"].map(pick).join("\n"));
' "$FRONTEND/package-lock.json" >"$STAGE/VERSIONS.txt"

echo "$WANT" >"$STAGE/.stamp"
rm -rf "$VENDOR"
mv "$STAGE" "$VENDOR"
chmod 755 "$VENDOR"
trap - EXIT
log "vendor files copied to frontend/vendor: $(ls "$VENDOR" | tr '\n' ' ')"
