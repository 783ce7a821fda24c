#!/usr/bin/env bash
# Is the server up? Checks the port, /healthz and the session counts.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
host="${HOST:-127.0.0.1}"
port="${PORT:-8765}"
url="http://$host:$port/healthz"

if ! (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
    echo "DOWN: nothing listens on $host:$port"
    exit 1
fi
echo "port $host:$port is open"
body="$(curl -fsS --max-time 5 "$url" 2>/dev/null || python3 -c "import urllib.request,sys; print(urllib.request.urlopen('$url', timeout=5).read().decode())" 2>/dev/null)"
if [ -z "$body" ]; then
    echo "DOWN: $url does not answer"
    exit 1
fi
python3 - "$body" <<'PY'
import json, sys
h = json.loads(sys.argv[1])
m, s = h["model"], h["sessions"]
print(f"status:   {h['status']} (version {h['version']}, protocol {h['protocol']}, up {h['uptime_s']} s)")
print(f"model:    {m['model']} at {m['endpoint']} via {m['source']} - {'reachable' if m['reachable'] else 'NOT reachable'}")
print(f"team:     {h['team']}")
print(f"sessions: {s['active']} live, {s['running']} running, {s['stored']} stored, {s['connections']} connections")
sb = h.get("sandbox", {})
print(f"sandbox:  {'available' if sb.get('available') else 'unavailable: ' + str(sb.get('reason'))}")
if "embedded" in h:
    e = h["embedded"]
    print(f"embedded: {e.get('model')} pid {e.get('pid')} running={e.get('running')} restarts={e.get('restarts')}")
sys.exit(0 if h["status"] == "ok" else 1)
PY
