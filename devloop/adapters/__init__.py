"""One interface per external tool: docker, kind, the Kubernetes API, subprocesses."""
