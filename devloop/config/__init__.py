"""devloop.yaml and Cloud Foundry manifest.yml in, a ProjectSpec out, with errors at file:line."""
