#!/usr/bin/env bash
# GPU throughput of two stages through `accelerate launch`, bf16, from a fresh venv (under 8 minutes on an H200):
#   sft      a ~0.5B Llama-style decoder from a config (24 layers, hidden 1280, our 8k BPE tokenizer), rows of
#            1024 tokens (every row truncated to max_length: no padding), fixed steps
#   classify a BERT-base-sized encoder from a config (12 layers, hidden 768) on demo:reviews, padded per batch
# and prints tokens/s and MFU = 6 x parameters x tokens/s / the GPU's peak dense bf16 FLOPS (H100/H200 SXM 989
# TFLOPS, A100 312; PEAK_TFLOPS=... for others). Tokens are non-pad tokens; train_runtime includes the first steps.
#
#   bash bench/gpu.sh                # on the GPU machine, from the repository root
#   bash bench/gpu.sh --cpu-smoke    # here: tiny dims, a few steps, on CPU with the current python (checks it all)
# Env: OUT (default /tmp/gpu-bench), VENV (default $OUT/venv), TORCH_SPEC (default torch==2.13.0: PyPI's Linux
# wheel is the CUDA build), PIP_EXTRA (e.g. --index-url for a mirror), STEPS (default 60), PYTHON (smoke mode).
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=0
[[ "${1:-}" == "--cpu-smoke" ]] && SMOKE=1
OUT=${OUT:-/tmp/gpu-bench}
STEPS=${STEPS:-60}
mkdir -p "$OUT"
T0=$(date +%s)
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

if [[ $SMOKE == 1 ]]; then
    PY=${PYTHON:-python}
    STEPS=3
    DEC="hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4, intermediate_size: 128"
    ENC="hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 128"
    SFT_LEN=128 SFT_BATCH=4 CLS_BATCH=8
    LAUNCH=(--cpu --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no)
else
    VENV=${VENV:-$OUT/venv}
    [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
    PY=$VENV/bin/python
    # shellcheck disable=SC2086
    "$PY" -m pip install -q ${PIP_EXTRA:-} "${TORCH_SPEC:-torch==2.13.0}"
    # shellcheck disable=SC2086
    "$PY" -m pip install -q ${PIP_EXTRA:-} -e .
    "$PY" -c 'import torch; assert torch.cuda.is_available(), "no CUDA device visible to torch"'
    DEC="hidden_size: 1280, num_hidden_layers: 24, num_attention_heads: 20, num_key_value_heads: 20, intermediate_size: 3584"
    ENC="hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072"
    SFT_LEN=1024 SFT_BATCH=16 CLS_BATCH=64
    LAUNCH=(--num_processes 1 --num_machines 1 --mixed_precision bf16 --dynamo_backend no)
fi
BIN=$(dirname "$PY")
echo "setup: $(( $(date +%s) - T0 )) s"

# rows of demo-corpus text longer than SFT_LEN tokens (truncated to it: every row is SFT_LEN tokens, no padding)
"$PY" - "$OUT/long.jsonl" <<'EOF'
import json, sys
from importlib.resources import files
texts = [json.loads(line)["text"] for line in (files("hfpipeline") / "demo/corpus.jsonl").read_text().splitlines()]
rows, chunk = [], []
for text in texts * 3:
    chunk.append(text)
    if sum(map(len, chunk)) > 8000:  # about 2000 tokens: past any max_length used here
        rows.append({"text": " ".join(chunk)})
        chunk = []
with open(sys.argv[1], "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows)
print(f"{len(rows)} long rows")
EOF

cat > "$OUT/gpu.yaml" <<EOF
# coding: hfpipeline
name: gpu-bench
seed: 42
output_dir: $OUT/run
stages:
  - {name: tok, kind: tokenizer, type: bpe, vocab_size: 8000, data: demo:corpus}
  - {name: wtok, kind: tokenizer, type: wordpiece, vocab_size: 8000, data: demo:review_corpus}
  - name: sft
    kind: sft
    model: {from_config: llama, $DEC, max_position_embeddings: $SFT_LEN}
    tokenizer: tok
    data: {path: $OUT/long.jsonl}
    train: {max_steps: $STEPS, per_device_train_batch_size: $SFT_BATCH, max_length: $SFT_LEN, learning_rate: 1.0e-4,
            eval_strategy: "no", logging_steps: 10, save_strategy: "no"}
  - name: classify
    kind: classify
    model: {from_config: bert, $ENC, max_position_embeddings: 512}
    tokenizer: wtok
    max_length: 128
    data: demo:reviews
    train: {num_train_epochs: 3, per_device_train_batch_size: $CLS_BATCH, learning_rate: 5.0e-5, logging_steps: 10}
EOF
"$BIN/hfpipeline" validate "$OUT/gpu.yaml"
if [[ $SMOKE == 1 ]]; then  # classify: a few steps here
    EXTRA=(stages.classify.train.max_steps=$STEPS)
else
    EXTRA=()
fi
"$BIN/accelerate" launch "${LAUNCH[@]}" "$OUT/gpu.yaml" --overwrite "${EXTRA[@]}"

# tokens/s and MFU from each stage's metrics.json, saved weights and data
"$PY" - "$OUT" "$SFT_LEN" "$SMOKE" <<'EOF'
import json, math, os, subprocess, sys
from pathlib import Path
from safetensors import safe_open
out, length, smoke = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
run = out / "run"
try:
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                         text=True).stdout.strip().splitlines()[0]
except (OSError, IndexError):
    gpu = "no GPU (CPU smoke run)"
peak = next((p for name, p in (("H200", 989e12), ("H100", 989e12), ("A100", 312e12)) if name in gpu), None)
peak = float(os.environ["PEAK_TFLOPS"]) * 1e12 if os.environ.get("PEAK_TFLOPS") else peak

def params(folder):
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())

def classify_epoch():
    """Non-pad tokens (truncated to 128) and rows of the classify stage's train split."""
    from transformers import AutoTokenizer
    from hfpipeline import data
    from hfpipeline.recipe import load_recipe
    recipe = load_recipe(run / "recipe.resolved.yaml")
    stage = next(s for s in recipe.stages if s.name == "classify")
    train = data.load_stage_data(stage, recipe.seed, evaluate=True)["train"]
    tok = AutoTokenizer.from_pretrained(run / "wtok")
    return sum(min(len(ids), 128) for ids in tok(list(train["text"]))["input_ids"]), len(train)

rows = []
for stage in ("sft", "classify"):
    m = json.loads((run / stage / "metrics.json").read_text())
    n = params(run / stage)
    if stage == "sft":
        tokens = m["train_steps"] * m["global_batch"] * length
    else:
        per_epoch, n_rows = classify_epoch()
        tokens = per_epoch * m["train_steps"] / math.ceil(n_rows / m["global_batch"])  # steps as share of epochs
    tps = tokens / m["train_runtime"]
    mfu = 6 * n * tps / peak if peak else None
    rows.append((stage, n, m["train_steps"], m["precision"], tps, mfu, m["train_runtime"]))
print(f"\n=== GPU bench: {gpu}; peak bf16 {peak / 1e12 if peak else '?'} TFLOPS ===")
print("| stage | parameters | steps | precision | tokens/s | MFU | train s |\n|---|---|---|---|---|---|---|")
for stage, n, steps, prec, tps, mfu, secs in rows:
    print(f"| {stage} | {n / 1e6:.1f}M | {steps} | {prec} | {tps:,.0f} | {f'{100 * mfu:.1f}%' if mfu else '—'} "
          f"| {secs:.1f} |")
EOF
echo "total: $(( $(date +%s) - T0 )) s"
