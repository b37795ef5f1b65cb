#!/usr/bin/env bash
# Run every model in DIR through `saturn run --compare ort` (WebGPU against ONNX Runtime on the CPU)
# and print one line per model: its name, the exit code, and the verdict line.
#   bench/zoo/run_zoo.sh DIR [NAME-REGEX]
# The models come from torchvision_zoo.py / hf_zoo.py (PyTorch needed there, not here).
set -u
dir=${1:?usage: run_zoo.sh DIR [NAME-REGEX]}
cd "$(dirname "$0")/../.."
for f in "$dir"/*.onnx; do
  n=$(basename "$f" .onnx)
  if [ -n "${2:-}" ] && ! echo "$n" | grep -qE "$2"; then continue; fi
  out=$(timeout 900 deno run -A cli.ts run "$f" --compare ort 2>&1)
  code=$?
  echo "$n rc=$code :: $(echo "$out" | tail -n 1)"
done
