./build/bpfree train --rule mf --seed 1 --epochs 2 --threads 1 --data mnist --log bench/results/compare-mnist-2ep/runs/mf-s1.jsonl
