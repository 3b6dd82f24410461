"""Pure model and logic: no I/O, no subprocess, no network, no Textual."""
