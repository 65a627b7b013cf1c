# bench/repro/want.awk — the awk rule table.sh and pending.sh share: from a
# bpfree JSON-lines log's header, `want`, the epochs a finished run has
# ("epochs", or under --greedy N: N times the hidden layers).  Pasted into
# their awk programs ($(cat want.awk)); a log whose last epoch is below it is
# a run still going, or stopped, not a result.
/"type": "header"/ {
    if (match($0, /"epochs": "[0-9]+"/)) { t = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", t); want = t + 0 }
    # --greedy N: N epochs for each hidden layer, whatever "epochs" says
    if (match($0, /"greedy": "[0-9]+"/)) { t = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", t); g = t + 0 }
    if (g > 0 && match($0, /"layers": "[0-9,]+"/)) { t = substr($0, RSTART, RLENGTH); want = g * (gsub(/,/, ",", t) + 1) }
}
