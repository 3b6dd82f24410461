"""Schedulers devloop can run apps on, behind one interface (like Cloud Foundry's OPI)."""
