"""The HTTP router: one stable URL per app in front of its healthy instances."""
