"""Takes jobs from Redis and counts them as done."""

import os
import socket
import time


def redis(*args: str) -> str:
    with socket.create_connection((os.environ.get("REDIS_HOST", "redis"), 6379), timeout=10) as conn:
        conn.sendall(f"*{len(args)}\r\n".encode() + b"".join(f"${len(a)}\r\n{a}\r\n".encode() for a in args))
        return conn.recv(4096).decode()


if __name__ == "__main__":
    print("worker waiting for jobs", flush=True)
    while True:
        reply = redis("BRPOP", "jobs", "5")
        if reply.startswith("*2"):
            job = reply.split("\r\n")[4]
            print(f"processed job {job}; done: {redis('INCR', 'done').strip(':').strip()}", flush=True)
        else:
            time.sleep(0.1)  # queue empty: poll again
