#!/usr/bin/env bash
# Black-box smoke test of the binary: serve --demo on a fresh data dir, walk a request over
# HTTP with curl, then the other commands against the same configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/demo-server.sh
"$BIN" healthcheck
grep -q "csl_demo_martin" "$DIR/serve.log"
URL="http://127.0.0.1:$PORT/api/v1"
H="Authorization: Bearer csl_demo_martin"
J="Content-Type: application/json"
curl -sf -H "$H" "$URL/cases" | grep -c '"items"' >/dev/null
EXPERT=$(curl -sf -H "$H" "$URL/directory/professionals?q=bernard" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
CASE=$(curl -sf -H "$H" -H "$J" -d "{\"patient\":{\"birth_family_name\":\"Smoke\",\"given_names\":\"Test\",\"birth_date\":\"1970-01-01\",\"sex\":\"F\"},\"expert_id\":\"$EXPERT\",\"reason\":\"r\",\"question\":\"q\"}" "$URL/cases" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -sf -X PUT -H "$H" -H "$J" -d '{"decision":"given","method":"oral","patient_informed":true}' "$URL/cases/$CASE/consent" >/dev/null
curl -sf -X POST -H "$H" "$URL/cases/$CASE/submit" | grep -c '"state":"assigned"' >/dev/null
curl -sf -X POST -H "Authorization: Bearer csl_demo_bernard" "$URL/cases/$CASE/accept" | grep -c '"state":"in_progress"' >/dev/null
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer csl_demo_roux" "$URL/cases/$CASE")
[ "$STATUS" = 404 ] || { echo "expected 404 for a stranger, got $STATUS"; exit 1; }
curl -sf "http://127.0.0.1:$PORT/api/openapi.json" -o "$DIR/openapi.json"
grep -q '"openapi":"3.1.0"' "$DIR/openapi.json"
# The OpenAPI document is valid per an external validator.
python3 -m pip install --quiet --disable-pip-version-check "openapi-spec-validator>=0.7" >/dev/null 2>&1 || true
python3 -c 'import sys, json; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print("openapi.json valid (OpenAPI 3.1)")' "$DIR/openapi.json"
curl -sf "http://127.0.0.1:$PORT/metrics" | grep -c consilium_http_requests_total >/dev/null
# The demo's signed compte rendu (R10): the PDF passes poppler and qpdf, the CDA TLM-CR the
# official ANS validator (../shared/validation/cda/validate.sh).
REPORT_CASE=$(curl -sf -H "$H" "$URL/cases?limit=100" | python3 -c 'import json,sys; print([c["id"] for c in json.load(sys.stdin)["items"] if c["state"] == "closed"][0])')
curl -sf -H "$H" "$URL/cases/$REPORT_CASE/report" | grep -c '"state":"signed"' >/dev/null
curl -sf -H "$H" "$URL/cases/$REPORT_CASE/report/versions/1/pdf" -o "$DIR/cr.pdf"
pdfinfo "$DIR/cr.pdf" >/dev/null
qpdf --check "$DIR/cr.pdf" >/dev/null
pdftotext -enc UTF-8 "$DIR/cr.pdf" - | grep -c "Signé électroniquement" >/dev/null
curl -sf -H "$H" "$URL/cases/$REPORT_CASE/report/versions/1/cda" -o "$DIR/cr.xml"
bash ../shared/validation/cda/validate.sh "$DIR/cr.xml"
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=

# Same configuration, other commands.
"$BIN" audit verify | tee "$DIR/verify.txt"
grep -q "audit chain intact" "$DIR/verify.txt"
"$BIN" audit checkpoint --out "$DIR/checkpoints.jsonl"
"$BIN" audit verify --checkpoints "$DIR/checkpoints.jsonl" | grep -q "consistent with 1 checkpoint"
# A checkpoint the chain does not contain is reported (exit 1).
sed 's/"hash":"[0-9a-f]*"/"hash":"00"/' "$DIR/checkpoints.jsonl" > "$DIR/bad.jsonl"
if "$BIN" audit verify --checkpoints "$DIR/bad.jsonl"; then echo "forged checkpoint not detected"; exit 1; fi
TOKEN=$("$BIN" token create --rpps 19999900012)
case "$TOKEN" in csl_*) ;; *) echo "bad token: $TOKEN"; exit 1 ;; esac
if "$BIN" token create --rpps 19999900013 2>/dev/null; then echo "bad RPPS accepted"; exit 1; fi
"$BIN" demo | grep -q "already present"
# Bootstrap a new organisation with its administrator; a bad RPPS leaves nothing behind.
if "$BIN" org create --name "Cabinet Test" --kind cabinet --admin-rpps 10123456782 --admin-first-name A --admin-last-name B 2>/dev/null; then
  echo "bad admin RPPS accepted"; exit 1
fi
ADMIN=$("$BIN" org create --name "Cabinet Test" --kind cabinet --admin-rpps 10123456781 --admin-first-name Alice --admin-last-name Test | tail -1)
case "$ADMIN" in csl_*) ;; *) echo "bad admin token: $ADMIN"; exit 1 ;; esac
if "$BIN" healthcheck >/dev/null 2>&1; then echo "healthcheck passed with the server stopped"; exit 1; fi
echo "smoke test passed"
