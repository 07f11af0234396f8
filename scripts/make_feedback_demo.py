"""Write hfpipeline/demo/feedback.jsonl: an already-labelled feedback batch (K=4 ranked responses per prompt) so the
feedback recipe's reward stage runs without a person. Deterministic: `python scripts/make_feedback_demo.py`
rewrites the file byte for byte. Reuses the dialogue templates of scripts/make_demo_data.py.
"""

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_demo_data import (  # noqa: E402
    CLOSERS,
    CURT,
    CURT_ON_TOPIC,
    DEMO_DIR,
    OPENERS,
    TOPICS,
    as_prompt,
    polite,
    train_question,
    unique,
    write_jsonl,
)

ROWS = 300
RUDE = ["Stop bothering me.", "Go away.", "Who cares?", "I don't care.", "Whatever.", "That is a boring question."]
PLAIN_CURT = [c for c in CURT if c not in RUDE]
VAGUE = [
    "I can walk you through it one step at a time.",
    "Tell me what you want and I will suggest a few options.",
    "If you need some help, just ask and I will explain the steps.",
    "You should read the instructions first.",
]


def vague(rng: random.Random) -> str:
    """Friendly but no answer: second best."""
    return " ".join(p for p in (rng.choice(OPENERS), rng.choice(VAGUE), rng.choice(CLOSERS)) if p)


def off_topic(rng: random.Random, topic: int) -> str:
    """A friendly, helpful answer to a different question: the labeller tags it irrelevant."""
    return polite(rng, rng.choice([t for t in range(len(TOPICS)) if t != topic]))


def curt_on_topic(rng: random.Random, topic: int) -> tuple[str, bool]:
    """A dismissive reply naming the topic; with a rude second sentence half the time. (text, rude)."""
    kind, phrase, _ = TOPICS[topic]
    text = rng.choice(CURT_ON_TOPIC[kind]).format(t=phrase.format(my="your"))
    return (f"{text} {rng.choice(RUDE)}", True) if rng.random() < 0.5 else (text, False)


def curt_generic(rng: random.Random) -> tuple[str, bool]:
    """A one-line brush-off, rude a third of the time. (text, rude)."""
    return (rng.choice(RUDE), True) if rng.random() < 1 / 3 else (rng.choice(PLAIN_CURT), False)


def labelled_item(rng: random.Random) -> dict:
    """One prompt, four responses in shuffled display order, the labeller's ranking (best first) and tags."""
    topic, text = train_question(rng)
    second, second_tags = (off_topic(rng, topic), ["irrelevant"]) if rng.random() < 0.2 else (vague(rng), [])
    third, third_rude = curt_on_topic(rng, topic)
    fourth, fourth_rude = curt_generic(rng)
    judged = [
        (polite(rng, topic), []),
        (second, second_tags),
        (third, ["inappropriate"] if third_rude else []),
        (fourth, ["inappropriate"] if fourth_rude else []),
    ]
    if rng.random() < 0.15:  # two brush-offs are a toss-up: labellers sometimes order them the other way
        judged[2], judged[3] = judged[3], judged[2]
    shown = list(range(4))
    rng.shuffle(shown)  # shown[i]: the display position of the i-th best response
    responses = [""] * 4
    for best, position in enumerate(shown):
        responses[position] = " " + judged[best][0]
    tags = {str(shown[best]): names for best, (_, names) in enumerate(judged) if names}
    return {"prompt": as_prompt(text), "responses": responses, "ranking": shown, "tags": dict(sorted(tags.items()))}


def make_feedback() -> list[dict]:
    """ROWS labelled items with distinct prompts."""
    return unique(random.Random(9), labelled_item, ROWS, key=lambda row: row["prompt"])


def main(out_dir: str | Path = DEMO_DIR) -> dict[str, int]:
    """Write feedback.jsonl into out_dir; return its row count."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = make_feedback()
    write_jsonl(out_dir / "feedback.jsonl", rows)
    return {"feedback.jsonl": len(rows)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default=DEMO_DIR, help="where to write (default: hfpipeline/demo)")
    for file, count in main(parser.parse_args().out_dir).items():
        print(f"{file}: {count} rows")
