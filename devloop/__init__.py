"""devloop: the `cf push` / `cf logs` experience on a local Kubernetes."""

__version__ = "0.1.0"
