"""The kind provider: apps as Kubernetes objects on a local (or any) cluster."""
