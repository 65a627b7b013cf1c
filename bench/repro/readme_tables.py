#!/usr/bin/python3
"""readme_tables.py — the README's generated tables, from the committed logs:
the CNN table (002 Table 2, 003 Table 2) between the markers
<!-- cnn-table:begin --> and <!-- cnn-table:end -->, and 002's fully connected
nets (Table 1 / B.6) between <!-- mlp002-table:begin --> and
<!-- mlp002-table:end -->, and 004 Tables I-II at the full 1000 steps a layer
(bench/results/cff1000/) between <!-- cff1000-table:begin --> and
<!-- cff1000-table:end -->.  Run by `make reproduction` from the repository root.

Each cell: the last epoch's test accuracy of every finished seed's log
(bench/results/cnn002bn/R-DATA-sS.jsonl; bench/results/cnn003/ for bp and mf on
MNIST, cnn003e16/ for FA and DFA on MNIST and every rule on Fashion-MNIST;
lc003/ for 003 Table 1's locally connected nets), mean ±
sample standard deviation when there are several, the paper's value in
brackets; mf's second number is its last layer's own accuracy.  The MLP
table's paper values are read from bench/repro/cells.tsv (the cells
"MNIST 4-layer BP" and so on), its logs from bench/results/t1-002bn/ (BP and
the feedback rules with batch norm), t1-002/, t1-002lr/ (FG-W at Adam 1e-3)
and t1-002sym/ (FG-A with its output layer exact and [-1, 1] inputs).
"""
import glob
import json
import statistics
import sys


def last(path, layer=None):
    """the last epoch's test accuracy (%) of a finished log (one that ends in
    bpfree's "final" object, as bench/repro/stage_logs.sh takes it), else None;
    with layer = i, layer i's own accuracy where the log has one"""
    acc = lay = None
    done = False
    with open(path) as f:
        for line in f:
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if o.get("type") == "epoch":
                acc, lay = o.get("test_acc"), o.get("layer_test_acc")
            done = o.get("type") == "final"
    if not done:
        return None  # still running, or stopped
    v = lay[layer] if layer is not None and lay else acc
    return None if v is None else 100.0 * v


def cell(d, rule, data, layer=None):
    return cell_glob("bench/results/%s/%s-%s-s*.jsonl" % (d, rule, data), layer)


def cell_glob(pattern, layer=None):
    vals = [v for v in (last(f, layer) for f in sorted(glob.glob(pattern))) if v is not None]
    if not vals:
        return "–"
    if len(vals) == 1:
        return "%.2f" % vals[0]
    return "%.2f ± %.2f (%d seeds)" % (statistics.mean(vals), statistics.stdev(vals), len(vals))


def paper_values():
    """cell name -> paper value, from bench/repro/cells.tsv"""
    out = {}
    with open("bench/repro/cells.tsv") as f:
        for line in f:
            c = line.rstrip("\n").split("\t")
            if not line.startswith("#") and len(c) >= 3:
                out[c[1]] = c[2]
    return out


def table_mlp002(paper):
    sets = (("mnist", "MNIST"), ("fashion-mnist", "F-MNIST"))
    head = "| rule | " + " | ".join("%s %d layers (paper)" % (n, d) for _, n in sets for d in (2, 3, 4))
    out = [head + " |", "|---|" + "---:|" * 6]
    # BP and the feedback rules on the authors' net (batch norm in every
    # hidden layer, t1-002bn/), the forward gradients on the plain one
    bn = (("bp", "BP"), ("fdfa", "FDFA"), ("dkp", "DKP"), ("dfa", "DFA"))
    rows = [("`%s`" % r, n, "t1-002bn/" + r, "") for r, n in bn]
    rows += [("`%s`" % r, n, "t1-002/" + r, "") for r, n in (
        ("fg-a", "FG-A"), ("lg-fg-a", "LG-FG-A"), ("fg-w", "FG-W"))]
    rows.append(("`fg-w` at Adam 1e-3 (the authors' script)", "FG-W", "t1-002lr/fg-w", "-lr1e-3"))
    rows.append(("`fg-a --fg-output exact --norm symmetric` (the output layer on its true "
                 "gradient, the authors' inputs)", "FG-A", "t1-002sym/fg-a", "-exactout"))
    rows.append(("`lg-fg-a --norm symmetric` (the authors' inputs)", "LG-FG-A",
                 "t1-002sym/lg-fg-a", ""))
    rows += [("`%s` without batch norm" % r, n + " without BN", "t1-002/" + r, "") for r, n in bn]
    for rule, name, stem, tag in rows:
        cols = []
        for data, dname in sets:
            for d in (2, 3, 4):
                key = "%s %d-layer %s" % (dname, d, name)
                if key not in paper:
                    cols.append("")
                    continue
                ours = cell_glob("bench/results/%s-d%d-%s%s-s*.jsonl" % (stem, d, data, tag))
                cols.append("%s (%s)" % (ours, paper[key]))
        out.append("| %s | %s |" % (rule, " | ".join(cols)))
    return "\n".join(out) + "\n"


def layer_cell(pattern, i):
    """mean over the finished seeds of layer i's own test accuracy"""
    vals = [v for v in (last(f, i) for f in sorted(glob.glob(pattern))) if v is not None]
    return "%.2f" % statistics.mean(vals) if vals else "–"


def table_cff1000(paper):
    out = ["| data | rule | goodness test % (paper) | layer 1 alone % | layer 2 alone % |",
           "|---|---|---:|---:|---:|"]
    for data, dname in (("mnist", "MNIST"), ("fashion-mnist", "F-MNIST")):
        for rule, name in (("ff", "FF"), ("cff-fixed", "F-CFF"), ("cff-adaptive", "A-CFF")):
            pat = "bench/results/cff1000/%s-%s-s*.jsonl" % (rule, data)
            key = "%s %s, 1000 steps per layer" % (dname, name)
            out.append("| %s | %s (`%s`) | %s (%s) | %s | %s |" % (
                dname, name, rule, cell_glob(pat), paper.get(key, "?"),
                layer_cell(pat, 0), layer_cell(pat, 1)))
    return "\n".join(out) + "\n"


def splice(s, name, text):
    begin, end = "<!-- %s:begin -->\n" % name, "<!-- %s:end -->" % name
    i, j = s.find(begin), s.find(end)
    if i < 0 or j < i:
        sys.exit("readme_tables.py: error: README.md lacks the %s markers" % name)
    return s[:i + len(begin)] + text + s[j:]


def table():
    out = ["| net | rule | MNIST (paper) | Fashion-MNIST (paper) |", "|---|---|---:|---:|"]
    rows002 = [("bp", "99.32", "92.10"), ("fdfa", "99.16", "91.54"), ("dkp", "99.08", "90.39"),
               ("dfa", "98.80", "89.69"), ("fg-a", "96.63", "82.71"), ("lg-fg-a", "95.42", "79.96"),
               ("fg-w", "87.63", "74.93")]
    for i, (r, pm, pf) in enumerate(rows002):
        net = "002 `15C5-BN-P2-40C5-BN-P2-128-BN`, Adam 1e-4 × 0.95/epoch, 20 of 100 epochs" if i == 0 else ""
        out.append("| %s | `%s` | %s (%s) | %s (%s) |" % (net, r, cell("cnn002bn", r, "mnist"), pm,
                                                      cell("cnn002bn", r, "fashion-mnist"), pf))
    net = ("003 `64C3s-A2-128C3s-A2-256C3s-A2-512C3s-A2`, Adam 1e-3 + cooldown, 8 epochs "
           "(FA and DFA, and Fashion-MNIST: 16)")
    out.append("| %s | `bp` | %s (99.52) | %s (92.63) |" % (net, cell("cnn003", "bp", "mnist"),
                                                         cell("cnn003e16", "bp", "fashion-mnist")))
    out.append("| | `mf` (goodness / last layer) | %s / %s (99.58 / 99.58) | %s / %s (93.98 / 93.47) |" % (
        cell("cnn003", "mf", "mnist"), cell("cnn003", "mf", "mnist", -1),
        cell("cnn003e16", "mf", "fashion-mnist"), cell("cnn003e16", "mf", "fashion-mnist", -1)))
    for r, label, pm, pf in (("dfa", "`dfa` (its own Adam 2e-4: 1e-3 is unstable here)", "98.53", "87.87"),
                             ("fa", "`fa`", "98.99", "90.04")):
        out.append("| | %s | %s (%s) | %s (%s) |" % (label, cell("cnn003e16", r, "mnist"), pm,
                                                  cell("cnn003e16", r, "fashion-mnist"), pf))
    for i, (arch, tag) in enumerate((("8L4-8L8", "lc2"), ("8L4-8L8-8L16", "lc3"))):
        for r in ("bp", "mf"):
            net = ("003 Table 1, locally connected `%s`, 8 channels a layer, Adam 1e-3 + cooldown, "
                   "10 epochs (the paper: CIFAR-10 only)" % arch) if r == "bp" else ""
            out.append("| %s | `%s` | %s | %s |" % (net, r, cell("lc003", "%s-%s" % (r, tag), "mnist"),
                                                   cell("lc003", "%s-%s" % (r, tag), "fashion-mnist")))
    return "\n".join(out) + "\n"


def main():
    with open("README.md") as f:
        s = f.read()
    s = splice(s, "cnn-table", table())
    paper = paper_values()
    s = splice(s, "mlp002-table", table_mlp002(paper))
    s = splice(s, "cff1000-table", table_cff1000(paper))
    with open("README.md.tmp", "w") as f:
        f.write(s)
    import os
    os.replace("README.md.tmp", "README.md")


if __name__ == "__main__":
    main()
