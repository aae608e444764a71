#!/usr/bin/env bash
# Shows that every jcstress test can fail: runs each test against the deliberately broken variant of the
# rule it proves (dev.mkwrite.impl.BrokenRule) and prints, per test, how the run ended and how many
# FORBIDDEN samples it collected. Every row should say FAILED (or STALE/ERROR for termination tests and
# crashed VMs). With --baseline it first runs the same tests without any broken rule, which must pass.
#
#   jcstress-tests/prove-failable.sh [--baseline] [extra jcstress options, e.g. -m default]
#   ONLY=Protocol_04 jcstress-tests/prove-failable.sh     only the pairs whose selector matches (and,
#                                                         with --baseline, only those tests)
#   REUSE=1 jcstress-tests/prove-failable.sh              print the table from the logs of the last run
#
# Builds the jar through ./dev, then needs about a minute per rule on two cores (quick mode).
set -euo pipefail
cd "$(dirname "$0")/.."

baseline=0
if [ "${1:-}" = --baseline ]; then baseline=1; shift; fi

# test selector (jcstress -t regexp) <TAB> broken rule [<TAB> extra JVM options of the run]
pairs=$(cat <<'PAIRS'
Protocol_01_	PUBLISH_BEFORE_PREPARE
Protocol_02_	CLAIM_WITHOUT_CAS
Protocol_03_.*\.Truncate_	LEAK_REDUNDANT_RESERVATION
Protocol_03_.*\.TruncateExtend_	SKIP_GENERATION_CHECK
Protocol_04_	FLUSH_WITHOUT_DRAIN
Protocol_05_	REMAP_WITHOUT_DRAIN
Protocol_05_.*\.GrowPast	STATE_PINS_IGNORED	-Ddev.mkwrite.impl.testing.stateWordPins=true
Protocol_06_	KEEP_LOCK_ON_DROP
Protocol_07_	DROP_LOCK_ON_RETRY
Protocol_08_	LEAK_REDUNDANT_RESERVATION
Protocol_09_	PIN_WITHOUT_FENCE
Protocol_09_	PIN_WITHOUT_FENCE	-Ddev.mkwrite.impl.symmetricPins=true
Protocol_09_	FENCE_SKIPPED_WHEN_SLOTS_LOOK_EMPTY
Protocol_09_HazardPin.Revoked	REVOKED_PIN_WITHOUT_FENCE
Protocol_10_	CLEAN_AFTER_WRITEBACK
Protocol_16_	WRITER_SLOT_UNSCANNED
Protocol_16_.*\.Kept	PIN_WITHOUT_FENCE
Protocol_16_.*\.Kept	PIN_WITHOUT_FENCE	-Ddev.mkwrite.impl.symmetricPins=true
Protocol_11_.*\.TruncateExtend_	AROUND_SURVIVES_TRUNCATE
Protocol_11_.*\.EnterTruncate_	QUIESCE_LEAVES_PREPARED
Protocol_12_	AROUND_WAKES_NOBODY
Protocol_13_	COUNTS_AFTER_PUBLISH
Protocol_14_	KEPT_PREPARED_REGARDLESS
Protocol_15_	READS_UNSIZED
Protocol_15_.*\.Grow_	READS_BEFORE_GROW
PAIRS
)

out=jcstress-tests/target/prove-failable
if [ "${REUSE:-0}" != 1 ]; then
  ./dev mvn -q -DskipTests -Djcstress.skip -pl jcstress-tests -am package
  rm -rf "$out"
fi
mkdir -p "$out"

# Runs jcstress on $1 (selector) with $2 (rule, or "none") and prints one row per test.
run() {
  local selector=$1 rule=$2 extra=$3 args="--enable-native-access=ALL-UNNAMED"
  shift 3
  [ "$rule" = none ] || args="$args -Ddev.mkwrite.impl.testing.brokenRule=$rule"
  [ -z "$extra" ] || args="$args $extra"
  local log="$out/$rule-${selector//[^A-Za-z0-9_]/}${extra:+-${extra//[^A-Za-z0-9]/}}.txt"
  local rc=0
  [ "${REUSE:-0}" = 1 ] && [ -f "$log" ] || ./dev java -jar jcstress-tests/target/jcstress.jar -m quick -sc false -v "$@" -t "$selector" \
      -jvmArgsPrepend "$args" -r "$out/results-$rule" >"$log" 2>&1 || rc=$?
  # Per test: every status seen ([OK], [FAILED], [ERROR], [STALE] ...), forbidden samples and ids.
  awk -v rule="$rule" -v extra="${extra:+ ($extra)}" -v rc="$rc" '
    /^RUN RESULTS:/ { exit }
    match($0, /\[[A-Z_ ]+\] dev\.mkwrite\.impl\.[A-Za-z0-9_.]+/) {
      s = substr($0, RSTART, RLENGTH); split(s, p, "] ")
      t = p[2]; sub(/^dev\.mkwrite\.impl\./, "", t); st = substr(p[1], 2)
      if (!(t in seen)) { order[++n] = t; seen[t] = 1 }
      if (index(status[t], st) == 0) status[t] = status[t] (status[t] == "" ? "" : "+") st
      cur = t; next
    }
    cur != "" && match($0, /^ +[^ ].*[0-9,]+ +<?[0-9.]+% +(Acceptable|Forbidden|Interesting) /) {
      line = $0; sub(/ +(Acceptable|Forbidden|Interesting) .*/, "", line)
      sub(/ +<?[0-9.]+%$/, "", line); samples = line; sub(/.* /, "", samples); gsub(/,/, "", samples)
      id = line; sub(/ +[0-9,]+$/, "", id); sub(/^ +/, "", id)
      total[cur] += samples
      if ($0 ~ / Forbidden /) { forbidden[cur] += samples; if (index(ids[cur], "[" id "]") == 0) ids[cur] = ids[cur] "[" id "]" }
    }
    END {
      for (k = 1; k <= n; k++) {
        t = order[k]
        printf "| %s | %s | %s | %d of %d | %s |\n", t, rule extra, status[t], forbidden[t], total[t], (ids[t] == "" ? "-" : ids[t])
      }
      if (n == 0) printf "| (no test ran: jcstress exit %s, see log) | %s | | | |\n", rc, rule
    }' "$log"
}

echo "| test | broken rule | run status | FORBIDDEN samples | FORBIDDEN outcomes |"
echo "|---|---|---|---|---|"
if [ "$baseline" = 1 ]; then
  run "${ONLY:-Protocol_}" none '' "$@" # the tests ONLY selects, or all
fi
while IFS=$'\t' read -r selector rule extra; do
  [[ "$selector" =~ ${ONLY:-.} ]] || continue
  run "$selector" "$rule" "${extra:-}" "$@"
done <<<"$pairs"
echo
echo "Logs and reports: $out"
