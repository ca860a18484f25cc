#!/usr/bin/env bash
# Deploy gate (the drill's copy of the real one): checks the line counts
# against deployment/deploy_baseline.env, then asks the five checklist
# questions. PASS unless an answer is `no` (anything but yes or n/a counts
# as no) or a line count is outside its tolerance.
set -u

baseline="deployment/deploy_baseline.env"
fail=0

echo "🚦 Mosaic deploy gate"
echo "   branch: ${GUARDRAIL_BRANCH:-unknown}  commit: ${GUARDRAIL_COMMIT:-unknown}"
echo "   actor:  ${DEPLOY_ACTOR:-$(whoami)}"
[ "${GUARDRAIL_DRILL:-0}" = "1" ] && echo "   (drill sandbox)"
echo

count_check() {
  local name="$1" file="$2" expected tolerance actual diff
  expected="$(sed -n "s/^${name}_LINE_COUNT=//p" "$baseline" | tr -d '"')"
  tolerance="$(sed -n "s/^${name}_LINE_TOLERANCE=//p" "$baseline" | tr -d '"')"
  if [ -z "$expected" ] || [ ! -f "$file" ]; then
    echo "❌ ${name}: no baseline or no ${file}"
    fail=1
    return
  fi
  actual="$(wc -l < "$file" | tr -d ' ')"
  diff=$(( actual - expected ))
  [ "$diff" -lt 0 ] && diff=$(( -diff ))
  if [ "$diff" -le "${tolerance:-0}" ]; then
    echo "✅ ${file}: ${actual} lines (baseline ${expected} ± ${tolerance:-0})"
  else
    echo "❌ ${file}: ${actual} lines, outside baseline ${expected} ± ${tolerance:-0}"
    fail=1
  fi
}

if [ -f "$baseline" ]; then
  count_check MOSAIC_UI mosaic_ui/index.html
  count_check FRONTEND frontend/index.html
else
  echo "❌ ${baseline} is missing"
  fail=1
fi
echo

questions=(
  "PS101 10-step flow walked end-to-end against this build?"
  "Auth modal opens and signs in?"
  "Baseline snapshot reviewed and within tolerance?"
  "Screenshots of the 10 PS101 steps and the auth modal attached?"
  "Fallback tag and backup path proposed?"
)

for q in "${questions[@]}"; do
  printf '%s [yes/no/n/a]: ' "$q"
  if ! IFS= read -r answer; then
    echo
    echo "❌ no answer (input closed)"
    fail=1
    break
  fi
  answer="$(printf '%s' "$answer" | tr '[:upper:]' '[:lower:]' | tr -d '[:space:]')"
  case "$answer" in
    yes | y | n/a | na) ;;
    *)
      echo "   ↳ answered '${answer}': counts as no"
      fail=1
      ;;
  esac
done

echo
if [ "$fail" -eq 0 ]; then
  echo "Deploy gate: PASS"
  exit 0
fi
echo "Deploy gate: FAIL"
exit 1
