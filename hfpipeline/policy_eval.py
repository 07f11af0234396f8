"""Compare a policy before and after preference tuning (PPO, RLOO, GRPO, DPO) on held-out prompts: mean reward-model
score of sampled responses, KL of the tuned policy to the one before (on the tuned policy's own samples), and the
samples. A reward model with its own tokenizer scores the decoded text, re-tokenized (as TRL's RLOO/GRPO do)."""

from hfpipeline import card, dist, models
from hfpipeline.files import write_text_atomic


def compare_policies(
    before_path: str,
    after_path: str,
    reward_path: str | None,
    prompts: list[str],
    ctx,
    *,
    max_new_tokens: int = 32,
    temperature: float = 1.0,
    batch_size: int = 32,
    add_special_tokens: bool = True,
) -> dict:
    """Sample one response per prompt from each policy; score both with the reward model (when given); KL on the
    tuned policy's samples. Writes <stage>/samples.jsonl; returns mean_reward_sft, mean_reward, kl, eval_prompts.
    Prompts are text as the policies saw them in training (add_special_tokens=False for chat-template output)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    tokenizer = models.load_tokenizer(after_path)
    before = models.load_model(AutoModelForCausalLM, before_path).eval()
    after = models.load_model(AutoModelForCausalLM, after_path).eval()
    queries = [tokenizer(p, add_special_tokens=add_special_tokens)["input_ids"] for p in prompts]
    sample = dict(tokenizer=tokenizer, max_new_tokens=max_new_tokens, temperature=temperature, batch_size=batch_size)
    with torch.no_grad():
        responses_before = sample_responses(before, queries, seed=ctx.recipe.seed, **sample)
        responses_after = sample_responses(after, queries, seed=ctx.recipe.seed, **sample)
        kl = [
            a - b
            for a, b in zip(
                logprobs(after, queries, responses_after, temperature, batch_size),
                logprobs(before, queries, responses_after, temperature, batch_size),
            )
        ]
        rewards_before = rewards_after = None
        if reward_path:
            reward = models.load_model(AutoModelForSequenceClassification, reward_path, num_labels=1).eval()
            reward_tokenizer = models.load_tokenizer(reward_path)
            if card.tokenizer_fingerprint(reward_tokenizer) != card.tokenizer_fingerprint(tokenizer):
                queries_r, before_r, after_r = retokenize(
                    tokenizer, reward_tokenizer, queries, responses_before, responses_after
                )
            else:
                reward_tokenizer, queries_r, before_r, after_r = tokenizer, queries, responses_before, responses_after
            reward.config.pad_token_id = reward_tokenizer.pad_token_id
            rewards_before = score(reward, reward_tokenizer, queries_r, before_r, batch_size)
            rewards_after = score(reward, reward_tokenizer, queries_r, after_r, batch_size)
    none = [0.0] * len(prompts)
    rows = [
        {
            "prompt": p,
            "sft": tokenizer.decode(rb, skip_special_tokens=True),
            "tuned": tokenizer.decode(ra, skip_special_tokens=True),
            **({"reward_sft": round(sb, 4), "reward": round(sa, 4)} if reward_path else {}),
            "kl": round(k, 4),
        }
        for p, rb, ra, sb, sa, k in zip(
            prompts, responses_before, responses_after, rewards_before or none, rewards_after or none, kl
        )
    ]
    if dist.is_main():
        import json

        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        write_text_atomic(ctx.stage_dir / "samples.jsonl", lines)
    metrics = {"kl": _mean(kl), "eval_prompts": len(prompts), "eval_temperature": temperature}
    if reward_path:
        metrics.update(mean_reward_sft=_mean(rewards_before), mean_reward=_mean(rewards_after))
    return metrics


def sample_responses(
    model, queries: list[list[int]], tokenizer, max_new_tokens: int, temperature: float, batch_size: int, seed: int
) -> list[list[int]]:
    """One sampled response per query (token ids, cut after the first eos, which is kept)."""
    import torch

    torch.manual_seed(seed)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    out = []
    for start in range(0, len(queries), batch_size):
        batch = queries[start : start + batch_size]
        width = max(len(q) for q in batch)
        ids = torch.tensor([[pad] * (width - len(q)) + q for q in batch])
        mask = torch.tensor([[0] * (width - len(q)) + [1] * len(q) for q in batch])
        sampling = (
            {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
            if temperature > 0
            else {"do_sample": False}
        )
        generated = model.generate(
            input_ids=ids.to(model.device),
            attention_mask=mask.to(model.device),
            max_new_tokens=max_new_tokens,
            eos_token_id=eos,
            pad_token_id=pad,
            **sampling,
        )
        for row in generated[:, width:].tolist():
            out.append(row[: row.index(eos) + 1] if eos in row else [t for t in row if t != pad])
    return out


def retokenize(tokenizer, reward_tokenizer, queries, *responses):
    """Queries and responses as the reward model's token ids: decoded text re-tokenized, an answer that ended with
    the policy's eos ending with the reward tokenizer's (reward models are trained with eos after the answer)."""

    def encode(ids, special: bool):
        text = tokenizer.decode(ids, skip_special_tokens=True)
        out = reward_tokenizer(text, add_special_tokens=special)["input_ids"]
        ended = bool(ids) and ids[-1] == tokenizer.eos_token_id and reward_tokenizer.eos_token_id is not None
        return out + [reward_tokenizer.eos_token_id] if ended else out

    return ([encode(q, True) for q in queries], *([encode(r, False) for r in rs] for rs in responses))


def _right_padded(queries, responses, pad: int):
    """Batch of query+response ids, right-padded, with attention mask and the response start of each row."""
    import torch

    seqs = [q + r for q, r in zip(queries, responses)]
    width = max(len(s) for s in seqs)
    ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
    return ids, mask


def logprobs(model, queries, responses, temperature: float, batch_size: int) -> list[float]:
    """Sum of log-probabilities of each response given its query (logits scaled by the sampling temperature)."""
    import torch

    pad = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    out = []
    for start in range(0, len(queries), batch_size):
        qs, rs = queries[start : start + batch_size], responses[start : start + batch_size]
        ids, mask = _right_padded(qs, rs, pad)
        logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits[:, :-1].float()
        logits = logits / (temperature if temperature > 0 else 1.0)
        token_logp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:].unsqueeze(-1).to(logits.device)).squeeze(-1)
        for row, (q, r) in enumerate(zip(qs, rs)):
            out.append(token_logp[row, len(q) - 1 : len(q) - 1 + len(r)].sum().item())
    return out


def score(reward_model, tokenizer, queries, responses, batch_size: int) -> list[float]:
    """Reward-model score of each query+response, read at its last token (as PPO reads it)."""
    out = []
    for start in range(0, len(queries), batch_size):
        ids, mask = _right_padded(
            queries[start : start + batch_size], responses[start : start + batch_size], tokenizer.pad_token_id
        )
        logits = reward_model(input_ids=ids.to(reward_model.device), attention_mask=mask.to(reward_model.device)).logits
        out.extend(logits[:, 0].float().tolist())
    return out


def _mean(values) -> float | None:
    return sum(values) / len(values) if values else None
