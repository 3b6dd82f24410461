"""The worker process: takes the jobs web queues in Redis and counts them (credentials from VCAP_SERVICES)."""

import json
import os

import redis

credentials = json.loads(os.environ["VCAP_SERVICES"])["redis"][0]["credentials"]
jobs = redis.Redis.from_url(credentials["uri"])
print("worker: waiting for jobs", flush=True)
while True:
    _queue, visit = jobs.blpop(["jobs"])
    done = jobs.incr("done")
    print(f"worker: visit {visit.decode()} done ({done} so far)", flush=True)
