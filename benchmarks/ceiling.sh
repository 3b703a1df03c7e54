#!/bin/bash
# The optimizer's ceiling check (docs/agents.md): PPO on the true known world (item seed i), 2M steps,
# uniform start, raw rewards; then paired evaluation against the oracles (1,000 users).
set -e
cd "$(dirname "$0")/.."
mkdir -p runs/ceiling5
source .venv/bin/activate
for i in "$@"; do
  ltvrec -q train --env known-world --set world.seed=$i --steps 2000000 --seed $i \
    --set torch_threads=1 --set normalize_reward=false --set eval_every=500000 \
    --set checkpoint_every=0 --out runs/ceiling5/ppo-$i > runs/ceiling5/train-$i.log 2>&1
  ltvrec -q evaluate --env known-world --set world.seed=$i --users 1000 --seeds 1 \
    --policies ppo=runs/ceiling5/ppo-$i,quality-aware-oracle,greedy-oracle,random,logging \
    --out runs/ceiling5/eval-$i > runs/ceiling5/eval-$i.log 2>&1
done
