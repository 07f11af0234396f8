"""User commands that are not training: generate, sample, classify, summarize/translate, inspect, export, label,
launch, report, schema, env. Each handles its CLI arguments; the table is in hfpipeline.cli."""
