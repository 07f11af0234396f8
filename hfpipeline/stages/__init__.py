"""One module per stage kind, each with `run(stage, ctx) -> metrics`. The table lives in hfpipeline.pipeline.RUNNERS."""
