#!/usr/bin/env bash
# The demo scenario: an environmental bureau transfers a suspected pollution crime
# to the public security bureau of Chengdu (copy to the procuratorate); the PSB
# issues its receipt (回执) and files the case; everyone sees what they should.
# Usage: ops/demo.sh BUILD_DIR PKI_DIR   (normally through ops/run.sh --demo)
set -euo pipefail
build="$1"
pki="$2"
work="$(mktemp -d)"
gateway_pid=""
cleanup() {
  if [ -n "$gateway_pid" ]; then kill "$gateway_pid" 2>/dev/null || true; wait "$gateway_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$build/gateway/caselink-gateway" --config "$pki/gateway.yaml" --listen 127.0.0.1:0 \
  --data-dir "$work/data" --ready-file "$work/port" 2>"$work/gateway.log" &
gateway_pid=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.1; done
if [ ! -s "$work/port" ]; then echo "gateway did not start:" >&2; cat "$work/gateway.log" >&2; exit 1; fi
port="$(cat "$work/port")"

ctl() { local agency="$1"; shift; "$build/tools/caselinkctl" --pki "$pki" --agency "$agency" --gateway "127.0.0.1:$port" "$@"; }
step() { printf '\n== %s\n' "$*"; }

case_id="510100-EPB-$(date +%Y%m%d%H%M%S)"
printf '案件移送书：某化工有限公司非法倾倒危险废物，涉嫌污染环境罪，依法移送。\n' >"$work/transfer-letter.txt"
printf '案件调查报告：2026年10月现场检查发现暗管排放，采样检测超标。\n' >"$work/investigation-report.txt"
printf '涉案物品清单：暗管一根，采样瓶六只。\n' >"$work/seized-items.txt"
printf '立案告知书：经审查，决定对某化工有限公司涉嫌污染环境案立案侦查。\n' >"$work/filing-notice.txt"
cat >"$work/case.yaml" <<CASE
case_id: "$case_id"
transfer:
  case_number: "成环罚〔2026〕17号"
  case_name: "某化工有限公司涉嫌污染环境案"
  offence_category: "污染环境罪"
  legal_basis: "《中华人民共和国刑法》第三百三十八条"
  suspects:
    - kind: COMPANY
      name: "某化工有限公司"
      identifier: "91510100MA6C000000"
  lead_officer: "张三"
  contact: "028-00000000"
documents:
  - {type: TRANSFER_LETTER, title: "案件移送书", path: transfer-letter.txt}
  - {type: INVESTIGATION_REPORT, title: "案件调查报告", path: investigation-report.txt}
  - {type: SEIZED_ITEMS_LIST, title: "涉案物品清单", path: seized-items.txt}
CASE

step "510100.epb transfers case $case_id (three documents uploaded, signed by digest)"
ctl 510100.epb submit transfer --case-file "$work/case.yaml"
step "510100.psb receives the transfer on its inbox"
ctl 510100.psb inbox --ack --idle-exit 1
step "510100.pro receives its copy"
ctl 510100.pro inbox --ack --idle-exit 1
step "510100.psb issues its signed receipt (回执)"
ctl 510100.psb submit receipt --case "$case_id"
step "510100.epb sees the receipt"
ctl 510100.epb inbox --ack --idle-exit 1
step "510100.psb files the case (立案), with its filing notice"
ctl 510100.psb submit filing --case "$case_id" --number "成公立〔2026〕88号" --doc FILING_NOTICE="$work/filing-notice.txt"
step "510100.epb and 510100.pro are told of the filing"
ctl 510100.epb inbox --ack --idle-exit 1
ctl 510100.pro inbox --ack --idle-exit 1
step "an illegal action is refused: the EPB tries to file the case itself"
if ctl 510100.epb submit filing --case "$case_id"; then echo "unexpected: accepted" >&2; exit 1; fi
step "the case timeline, as the procuratorate sees it"
ctl 510100.pro case show "$case_id"
echo
echo "demo finished: case $case_id transferred, received and filed"
