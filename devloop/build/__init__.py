"""Building app images: what goes into a build, generated Dockerfiles, the builder."""
