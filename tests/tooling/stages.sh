#!/usr/bin/env bash
# Run `make STAGE` for each stage in turn, timing each; stop at the first that
# fails. At the end (also after a failure) print one line per stage with its
# time and result, and the total. Used by `make test`.
#
# A stage written A,B,C... runs `make A`, `make B`, ... side by side, at most
# $STAGE_JOBS (default 2) at a time, starting them in the order given as slots free
# up. Each one's output goes to $STAGE_LOGS/NAME.log and is printed whole when the
# group is done; every two minutes a line says where each running one is. The
# group fails if any member fails (the others still run to their end).
set -uo pipefail
make_cmd=${MAKE:-make}
logs=${STAGE_LOGS:-.build/stage-logs}
jobs=${STAGE_JOBS:-2}
names=() secs=() results=()
start_all=$(date +%s)
rc=0

record() {  # record NAME SECONDS RC
    names+=("$1"); secs+=("$2")
    if (($3 == 0)); then results+=(ok); else results+=("FAILED (exit $3)"); fi
}

progress() {  # progress LOG: the scenario step, play or test a molecule log last reached
    sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -a -o -E '[a-z]+ (➜|>) [a-z_]+|PLAY \[[^]]*\]|test_[a-z_]+\.py::[a-z_]+' | tail -n 1
}

# why LOG: at most 12 lines from a failed stage's log saying why it failed (pytest's FAILED/ERROR lines, an
# Ansible fatal not ignored, molecule's CRITICAL, make's Error), each cut to 300 characters; the last 8
# lines when none is found. Printed after the table, so that the end of a CI log names the cause.
why() {
    local found
    found=$(sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '
        function flush() { if (fatal != "") print fatal; fatal = "" }
        /^\.\.\.ignoring/ { fatal = ""; next }
        /^fatal: .*FAILED!/ { flush(); fatal = $0; next }
        /^(FAILED|ERROR) |CRITICAL|^make(\[[0-9]+\])?: \*\*\*/ { flush(); print; next }
        NF { flush() }
        END { flush() }' | cut -c1-300 | head -n 12)
    if [[ -n $found ]]; then printf '%s\n' "$found"; else tail -n 8 "$1" | cut -c1-300; fi
}

run_group() {  # run_group STAGE... : side by side, at most $jobs at a time, in order; sets rc
    local pids=() starts=() ends=() codes=() i n next=0 start tick members=("$@")
    mkdir -p "$logs"
    start=$(date +%s)
    printf '[stages] running side by side, %d at a time: %s (logs: %s)\n' "$jobs" "$*" "$logs"
    tick=$(date +%s)
    while :; do
        n=0
        for i in "${!pids[@]}"; do
            ((ends[i] == 0)) || continue
            if kill -0 "${pids[$i]}" 2>/dev/null; then
                n=$((n + 1))
            else
                wait "${pids[$i]}"; codes[i]=$?; ends[i]=$(date +%s)
                printf '[stages] %s finished after %ds: %s\n' "${members[i]}" $((ends[i] - starts[i])) \
                    "$( ((codes[i] == 0)) && echo ok || echo "FAILED (exit ${codes[i]})")"
            fi
        done
        while ((n < jobs && next < ${#members[@]})); do
            $make_cmd --no-print-directory "${members[next]}" >"$logs/${members[next]}.log" 2>&1 </dev/null &
            pids+=($!); starts+=("$(date +%s)"); ends+=(0); codes+=(0)
            printf '[stages] %s started\n' "${members[next]}"
            next=$((next + 1)) n=$((n + 1))
        done
        ((n > 0)) || break
        if (($(date +%s) - tick >= 120)); then
            tick=$(date +%s)
            for i in "${!pids[@]}"; do
                ((ends[i] == 0)) && printf '[stages] %s running, %ds: %s\n' "${members[i]}" $((tick - starts[i])) \
                    "$(progress "$logs/${members[i]}.log")"
            done
        fi
        sleep 2
    done
    for i in "${!pids[@]}"; do
        printf '\n===== output of stage %s =====\n' "${members[i]}"
        cat "$logs/${members[i]}.log"
    done
    for i in "${!pids[@]}"; do
        record "${members[i]}" $((ends[i] - starts[i])) "${codes[$i]}"
        ((codes[i] == 0)) || rc=${codes[$i]}
    done
    record "(side by side, wall)" $(($(date +%s) - start)) "$rc"
}

attempted=0
for stage in "$@"; do
    attempted=$((attempted + 1))
    printf '\n===== stage %s =====\n' "$stage"
    if [[ $stage == *,* ]]; then
        IFS=, read -r -a group <<<"$stage"
        run_group "${group[@]}"
    else
        start=$(date +%s)
        $make_cmd --no-print-directory "$stage"
        rc=$?
        record "$stage" $(($(date +%s) - start)) "$rc"
    fi
    ((rc == 0)) || break
done
total=$(($(date +%s) - start_all))
printf '\n===== make test: time per stage =====\n'
for i in "${!names[@]}"; do
    printf '%-28s %3dm%02ds  %s\n' "${names[$i]}" $((secs[i] / 60)) $((secs[i] % 60)) "${results[$i]}"
done
for stage in "${@:attempted+1}"; do printf '%-28s %8s  not run\n' "$stage" '-'; done
if [[ -s ${PREFETCH_TIMES:-} ]]; then
    while read -r name sec code; do
        printf '%-28s %3dm%02ds  %s\n' "($name, background)" $((sec / 60)) $((sec % 60)) \
            "$( ((code == 0)) && echo ok || echo "FAILED (exit $code)")"
    done <"$PREFETCH_TIMES"
fi
printf '%-28s %3dm%02ds  %s\n' total $((total / 60)) $((total % 60)) "$( ((rc == 0)) && echo ok || echo FAILED)"
for i in "${!names[@]}"; do
    [[ ${results[$i]} == ok || ${names[$i]} == "("* || ! -s $logs/${names[$i]}.log ]] && continue
    printf '\n===== why %s failed (whole log: %s/%s.log) =====\n' "${names[$i]}" "$logs" "${names[$i]}"
    why "$logs/${names[$i]}.log"
done
exit "$rc"
