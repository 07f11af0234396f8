"""Training stages: one module per kind (`run(stage, ctx) -> metrics`), named in hfpipeline.kinds, plus shared.py for what sft and dpo share. A stage module never imports another stage module."""
