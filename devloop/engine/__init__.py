"""The engine: inputs -> reduce -> decide -> tasks, the commands it answers, its control socket."""
