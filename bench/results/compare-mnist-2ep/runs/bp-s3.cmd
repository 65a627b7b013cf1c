./build/bpfree train --rule bp --seed 3 --epochs 2 --threads 1 --data mnist --log bench/results/compare-mnist-2ep/runs/bp-s3.jsonl
