# shellcheck shell=bash
# Counts passed and failed tests in the output of cargo-nextest and cargo test (libtest).
#
#   df_count_tests LOG...   prints "PASSED FAILED"
#
# nextest ends with one line per run:
#      Summary [  12.3s] 40 tests run: 38 passed (1 slow), 2 failed, 1 skipped
#      Summary [   4.0s] 12/40 tests run: 11 passed, 1 failed, 28 skipped   (cancelled run)
# Every test that ran and did not pass (failed, timed out, crashed) counts as failed.
# libtest prints one line per test binary, which are summed:
#   test result: FAILED. 7 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.20s

df_count_tests() {
    awk '
        # Output may carry colour codes when the caller forced colour on.
        { gsub(/\033\[[0-9;]*m/, "") }
        /^[[:space:]]*Summary \[.*\] [0-9]+(\/[0-9]+)? tests? run: / {
            line = $0
            sub(/.*\] /, "", line)
            split(line, parts, " ")
            split(parts[1], ran, "/")
            run = ran[1] + 0
            ok = 0
            if (match(line, /[0-9]+ passed/)) ok = substr(line, RSTART, RLENGTH) + 0
            nextest_passed += ok
            nextest_failed += run - ok
            next
        }
        /^test result: / {
            if (match($0, /[0-9]+ passed/)) libtest_passed += substr($0, RSTART, RLENGTH) + 0
            if (match($0, /[0-9]+ failed/)) libtest_failed += substr($0, RSTART, RLENGTH) + 0
        }
        END {
            printf "%d %d\n", nextest_passed + libtest_passed, nextest_failed + libtest_failed
        }
    ' "$@"
}
