"""Reads what Cloud Foundry's Python samples read: VCAP_APPLICATION's metadata (as the
cf-sample-app-python dashboard shows it), CF_INSTANCE_* and the deprecated VCAP_APP_PORT
that older samples listen on. Stdlib only."""

import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

VCAP = json.loads(os.environ["VCAP_APPLICATION"])
PORT = int(os.environ["VCAP_APP_PORT"])


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({
            "cf_api": VCAP["cf_api"],
            "app_name": VCAP["application_name"],
            "app_uris": VCAP["application_uris"],
            "instance_index": VCAP["instance_index"],
            "space_name": VCAP["space_name"],
            "org_name": VCAP["organization_name"],
            "memory_limit": VCAP["limits"]["mem"],
            "disk_limit": VCAP["limits"]["disk"],
            "process_type": VCAP["process_type"],
            "application_id": VCAP["application_id"],
            "services": json.loads(os.environ["VCAP_SERVICES"]),  # parsed unguarded, as many samples do
            "env": {k: os.environ[k] for k in (
                "PORT", "MEMORY_LIMIT", "CF_INSTANCE_INDEX", "CF_INSTANCE_GUID", "CF_INSTANCE_IP",
                "CF_INSTANCE_INTERNAL_IP", "CF_INSTANCE_PORT", "CF_INSTANCE_ADDR", "CF_INSTANCE_PORTS",
            )},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
