./build/bpfree train --rule mf --seed 2 --epochs 2 --threads 1 --data mnist --log bench/results/compare-mnist-2ep/runs/mf-s2.jsonl
