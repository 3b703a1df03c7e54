#!/bin/bash
# The optimizer's ceiling check (docs/agents.md): PPO on the true known world (item seed i), 2M steps,
# uniform start, raw rewards; then paired evaluation against the oracles (1,000 users).
#   [OUT=runs/ceiling5] [EXTRA="--set world.key=value"] benchmarks/ceiling.sh SEED [SEED ...]
set -e
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/ceiling5}
mkdir -p $OUT
source .venv/bin/activate
for i in "$@"; do
  ltvrec -q train --env known-world --set world.seed=$i $EXTRA --steps 2000000 --seed $i \
    --set torch_threads=1 --set normalize_reward=false --set eval_every=500000 \
    --set checkpoint_every=0 --out $OUT/ppo-$i > $OUT/train-$i.log 2>&1
  ltvrec -q evaluate --env known-world --set world.seed=$i $EXTRA --users 1000 --seeds 1 \
    --policies ppo=$OUT/ppo-$i,quality-aware-oracle,greedy-oracle,random,logging \
    --out $OUT/eval-$i > $OUT/eval-$i.log 2>&1
done
