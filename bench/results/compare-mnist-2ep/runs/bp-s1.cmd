./build/bpfree train --rule bp --seed 1 --epochs 2 --threads 1 --data mnist --log bench/results/compare-mnist-2ep/runs/bp-s1.jsonl
