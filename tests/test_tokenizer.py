"""The tokenizer stage: each type trains, saves as a transformers fast tokenizer and round-trips."""

import pytest
from conftest import REPO, write_jsonl
from transformers import AutoTokenizer

import hfpipeline

TEXTS = [f"The film number {i} was {'great' if i % 2 else 'dull'}, said reviewer {i % 7}." for i in range(300)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tok")
    write_jsonl(tmp / "t.jsonl", [{"body": t} for t in TEXTS])
    stages = [
        {
            "name": t,
            "kind": "tokenizer",
            "type": t,
            "vocab_size": 200,
            "min_frequency": 1,
            "data": {"path": str(tmp / "t.jsonl"), "text_field": "body"},
        }
        for t in ("bpe", "wordpiece", "unigram")
    ]
    hfpipeline.run({"name": "tok", "output_dir": str(tmp / "run"), "stages": stages})
    return {t: AutoTokenizer.from_pretrained(tmp / "run" / t) for t in ("bpe", "wordpiece", "unigram")}


def test_bpe_is_gpt_style(trained):
    tok = trained["bpe"]
    assert tok.eos_token == tok.bos_token == "<|endoftext|>" and tok.pad_token == "<|pad|>"
    text = "The film number 3 was great!"
    assert tok.decode(tok(text)["input_ids"]) == text  # byte-level: lossless, no special tokens added
    assert len(tok) <= 300


def test_wordpiece_is_bert_style(trained):
    tok = trained["wordpiece"]
    ids = tok("the film was great", "said reviewer 3")["input_ids"]
    tokens = tok.convert_ids_to_tokens(ids)
    assert tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2 and tokens[-1] == "[SEP]"
    assert tok.mask_token == "[MASK]" and tok.pad_token == "[PAD]"
    assert tok.decode(ids, skip_special_tokens=True) == "the film was great said reviewer 3"


def test_unigram_is_t5_style(trained):
    tok = trained["unigram"]
    assert tok.pad_token_id == 0 and tok.eos_token == "</s>"
    ids = tok("The film was great.")["input_ids"]
    assert ids[-1] == tok.eos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == "The film was great."


def test_text_field_may_list_columns(tmp_path):
    write_jsonl(tmp_path / "pairs.jsonl", [{"en": f"house garden {i}", "de": f"haus garten {i}"} for i in range(50)])
    hfpipeline.run(
        {
            "name": "two",
            "output_dir": str(tmp_path / "run"),
            "stages": [
                {
                    "name": "tok",
                    "kind": "tokenizer",
                    "type": "wordpiece",
                    "vocab_size": 200,
                    "min_frequency": 1,
                    "data": {"path": str(tmp_path / "pairs.jsonl"), "text_field": ["en", "de"]},
                }
            ],
        }
    )
    vocab = AutoTokenizer.from_pretrained(tmp_path / "run/tok").get_vocab()
    assert {"house", "garden", "haus", "garten"} <= set(vocab)


def test_listed_text_columns_are_checked(tmp_path):
    from hfpipeline.errors import RecipeErrors

    write_jsonl(tmp_path / "pairs.jsonl", [{"en": "a", "de": "b"}])
    with pytest.raises(RecipeErrors, match="missing column 'fr'"):
        hfpipeline.load_recipe(
            {
                "name": "x",
                "stages": [
                    {
                        "name": "tok",
                        "kind": "tokenizer",
                        "data": {"path": str(tmp_path / "pairs.jsonl"), "text_field": ["en", "fr"]},
                    }
                ],
            }
        )


def test_a_tokenizer_on_data_a_later_stage_holds_out_says_so():
    from hfpipeline.recipe import load_recipe
    from hfpipeline.stages.tokenizer import held_out_note

    shared_data = load_recipe(REPO / "recipes/rloo.yaml")  # tok and pretrain both read demo:corpus
    note = held_out_note(shared_data.stage("tok"), shared_data)
    assert "learns from every row of demo:corpus" in note and "stage 'pretrain' holds out" in note
    separate = load_recipe(
        REPO / "recipes/dpo.yaml", ["stages.pretrain.data={path: demo:instructions, text_field: completion}"]
    )
    assert held_out_note(separate.stage("tok"), separate) is None  # now no later stage reads demo:corpus
