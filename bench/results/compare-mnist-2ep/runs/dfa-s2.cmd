./build/bpfree train --rule dfa --seed 2 --epochs 2 --threads 1 --data mnist --log bench/results/compare-mnist-2ep/runs/dfa-s2.jsonl
