"""Images devloop builds or needs, in every store it reaches: the disk budget, the workshop archive."""
