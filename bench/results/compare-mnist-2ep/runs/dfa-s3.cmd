./build/bpfree train --rule dfa --seed 3 --epochs 2 --threads 1 --data mnist --log bench/results/compare-mnist-2ep/runs/dfa-s3.jsonl
