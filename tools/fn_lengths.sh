#!/usr/bin/env bash
# Lists production functions in src/ by length (lines from `fn` to its closing brace at the same
# indentation), largest first, skipping `#[cfg(test)]` modules.
# Usage: tools/fn_lengths.sh [count=10] [min_lines=0]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10}"
min="${2:-0}"
find src -name '*.rs' | sort | while read -r f; do
  awk -v file="$f" '
    function lead(s) { match(s, /^ */); return substr(s, 1, RLENGTH) }
    skipping { if ($0 ~ "^" skip "}") skipping = 0; next }
    /^ *#\[cfg\(test\)\]/ { cfgtest = 1; next }
    cfgtest && /^ *(pub(\([^)]*\))? )?mod [A-Za-z_0-9]+ *\{/ { skip = lead($0); skipping = 1; cfgtest = 0; next }
    { cfgtest = 0 }
    !inside && /^ *(pub(\([^)]*\))? )?(const )?(async )?(unsafe )?(extern "[^"]*" )?fn [A-Za-z_0-9]+/ {
      if ($0 ~ /;[ \t]*$/) next
      open = lead($0); inside = 1; start = NR
      name = $0; sub(/.*fn /, "", name); sub(/[^A-Za-z_0-9].*/, "", name)
      if ($0 ~ /\{.*\}[ \t]*$/) { print 1 "\t" name "\t" file ":" start; inside = 0 }
      next
    }
    inside && $0 ~ "^" open "}" { print NR - start + 1 "\t" name "\t" file ":" start; inside = 0 }
  ' "$f"
done | sort -rn -k1,1 | awk -v min="$min" '$1 >= min' | head -n "$n"
