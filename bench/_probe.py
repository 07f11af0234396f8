"""Measures one training run for bench/compare.py, the same way for an hfpipeline stage and a plain script: wraps
transformers' CallbackHandler (every Trainer, TRL's old PPOTrainer too, builds one) and compute_loss (non-pad tokens
the step trains on), then runs the target and writes one JSON line of figures when training ends.

Run: python bench/_probe.py OUT.json hfpipeline RECIPE.yaml | python bench/_probe.py OUT.json plain SCRIPT.py SPEC.json
(BENCH_T0 in the environment: the wall-clock time the parent started this process, for the time to the first step;
BENCH_PROFILE=FILE: cProfile the steps after the first into FILE, to find where one side spends more.)
"""

import json
import os
import resource
import runpy
import sys
import time

T0 = float(os.environ.get("BENCH_T0", time.time()))
OUT = sys.argv[1]
COUNTS = {"tokens": 0, "samples": 0}
STEPS = []  # (wall time, CPU time of this process, tokens so far, samples so far) at each step end
# The config fields that define the work: compare.py checks that both sides ran with the same values.
WORK = (
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_steps",
    "total_episodes",
    "max_length",
    "learning_rate",
    "num_generations",
    "max_completion_length",
    "response_length",
    "temperature",
    "beta",
    "kl_coef",
    "seed",
)


def batch_size(inputs: dict) -> tuple[int, int]:
    """Non-pad tokens and sequences of one training batch: the attention mask (plus, for encoder-decoders, the
    target tokens), or the RL kinds' prompt and completion masks."""
    if "prompt_mask" in inputs and "completion_mask" in inputs:  # RLOO/GRPO: prompts and sampled completions
        return int(inputs["prompt_mask"].sum() + inputs["completion_mask"].sum()), len(inputs["prompt_mask"])
    ids = inputs.get("input_ids")
    mask = inputs.get("attention_mask")
    tokens = int(mask.sum()) if mask is not None else int(ids.numel())
    if "decoder_input_ids" in inputs or ("labels" in inputs and inputs["labels"].shape != ids.shape):
        tokens += int((inputs["labels"] != -100).sum())  # seq2seq: target tokens too
    return tokens, len(ids)


PROFILE = {}


def on_step_end(self, args, state, control, **kwargs):
    if not STEPS and os.environ.get("BENCH_PROFILE"):
        import cProfile

        PROFILE["p"] = cProfile.Profile()
        PROFILE["p"].enable()
    STEPS.append((time.time(), time.process_time(), COUNTS["tokens"], COUNTS["samples"]))


def on_train_end(self, args, state, control, **kwargs):
    """Write the figures and leave: what follows training (evaluation, saving) is not what is compared."""
    if PROFILE:
        PROFILE["p"].disable()
        PROFILE["p"].dump_stats(os.environ["BENCH_PROFILE"])
    out = {"steps": len(STEPS), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    out["precision"] = "bf16" if args.bf16 else ("fp16" if args.fp16 else "fp32")
    out["checkpointing"] = bool(getattr(args, "gradient_checkpointing", False))
    out["config"] = {k: getattr(args, k) for k in WORK if hasattr(args, k)}
    import torch

    out["threads"] = [torch.get_num_threads(), torch.get_num_interop_threads()]  # the same on both sides?
    if STEPS:
        out["first_step_s"] = STEPS[0][0] - T0
    if len(STEPS) > 1:  # throughput over the steps after the first (warm-up left out)
        (t0, c0, k0, n0), (t1, c1, k1, n1) = STEPS[0], STEPS[-1]
        out.update(tokens_per_s=(k1 - k0) / (t1 - t0), samples_per_s=(n1 - n0) / (t1 - t0), tokens=k1 - k0)
        # CPU time: on a shared machine the wall clock also counts the waits for a core; CPU seconds far less
        out["tokens_per_cpu_s"] = (k1 - k0) / (c1 - c0)
    with open(OUT, "w") as f:
        f.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def install() -> None:
    """Count tokens in every training compute_loss; add the step/end hooks to every CallbackHandler."""
    from transformers import Trainer, TrainerCallback, trainer_callback

    probe = type("Probe", (TrainerCallback,), {"on_step_end": on_step_end, "on_train_end": on_train_end})
    handler_init = trainer_callback.CallbackHandler.__init__

    def init(self, callbacks, *args, **kwargs):
        handler_init(self, [*callbacks, probe], *args, **kwargs)

    trainer_callback.CallbackHandler.__init__ = init
    for cls in [Trainer, *_trl_trainers()]:
        if "compute_loss" in vars(cls):  # TRL's trainers override it; a guard counts a super() call once
            cls.compute_loss = _counting(vars(cls)["compute_loss"])
    _count_ppo()


def _counting(original):
    def counting(self, model, inputs, *args, **kwargs):
        if model.training and not getattr(self, "_probe_counting", False):
            tokens, samples = batch_size(inputs)
            COUNTS["tokens"] += tokens
            COUNTS["samples"] += samples
        self._probe_counting = True  # a subclass calling super().compute_loss counts once
        try:
            return original(self, model, inputs, *args, **kwargs)
        finally:
            self._probe_counting = False

    return counting


def _trl_trainers() -> list:
    """TRL's trainer classes (imported here, so both sides pay the same imports)."""
    import trl

    names = ("SFTTrainer", "RewardTrainer", "DPOTrainer", "RLOOTrainer", "GRPOTrainer")
    return [getattr(trl, n) for n in names if hasattr(trl, n)]


def _count_ppo() -> None:
    """TRL's old PPOTrainer has its own loop: count the non-pad tokens of each rollout it generates (queries +
    responses) and its episodes."""
    try:
        from trl.experimental.ppo import ppo_trainer
    except ImportError:
        return
    generate = ppo_trainer.batch_generation

    def counting(model, queries, batch, pad_token_id, *args, **kwargs):
        query_responses, logits = generate(model, queries, batch, pad_token_id, *args, **kwargs)
        COUNTS["tokens"] += int((query_responses != pad_token_id).sum())
        COUNTS["samples"] += len(query_responses)
        return query_responses, logits

    ppo_trainer.batch_generation = counting


def main() -> None:
    install()
    target, path = sys.argv[2], sys.argv[3]
    if target == "hfpipeline":
        import hfpipeline

        hfpipeline.run(path, overwrite=True)
    else:
        sys.argv = [path, *sys.argv[4:]]
        runpy.run_path(path, run_name="__main__")
    sys.exit("the probe saw no end of training")


if __name__ == "__main__":
    main()
