"""Training stages: one module per kind (`run(stage, ctx) -> metrics`), named in hfpipeline.kinds, plus shared.py
for what several kinds share and rl_shared.py for what rloo and grpo share. A stage module never imports another
stage module."""
