"""Watching app folders: ignore rules, inotify with pruned watches, debounced batches."""
