./build/bpfree train --rule mf --seed 3 --epochs 2 --threads 1 --data mnist --log bench/results/compare-mnist-2ep/runs/mf-s3.jsonl
