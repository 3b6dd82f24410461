"""The docker provider: instances and services as containers on the local engine."""
