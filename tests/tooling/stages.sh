#!/usr/bin/env bash
# Run `make STAGE` for each stage in turn, timing each; stop at the first that
# fails. At the end (also after a failure) print one line per stage with its
# time and result, and the total. Used by `make test`.
set -uo pipefail
make_cmd=${MAKE:-make}
names=() secs=() results=()
start_all=$(date +%s)
rc=0
for stage in "$@"; do
    printf '\n===== stage %s =====\n' "$stage"
    start=$(date +%s)
    $make_cmd --no-print-directory "$stage"
    rc=$?
    names+=("$stage"); secs+=($(($(date +%s) - start)))
    if ((rc == 0)); then results+=(ok); else results+=("FAILED (exit $rc)"); break; fi
done
total=$(($(date +%s) - start_all))
printf '\n===== make test: time per stage =====\n'
for i in "${!names[@]}"; do
    printf '%-28s %3dm%02ds  %s\n' "${names[$i]}" $((secs[i] / 60)) $((secs[i] % 60)) "${results[$i]}"
done
for stage in "${@:${#names[@]}+1}"; do printf '%-28s %8s  not run\n' "$stage" '-'; done
if [[ -s ${PREFETCH_TIMES:-} ]]; then
    while read -r name sec code; do
        printf '%-28s %3dm%02ds  %s\n' "($name, background)" $((sec / 60)) $((sec % 60)) \
            "$( ((code == 0)) && echo ok || echo "FAILED (exit $code)")"
    done <"$PREFETCH_TIMES"
fi
printf '%-28s %3dm%02ds  %s\n' total $((total / 60)) $((total % 60)) "$( ((rc == 0)) && echo ok || echo FAILED)"
exit "$rc"
