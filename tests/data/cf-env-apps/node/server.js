// Reads what cf-sample-app-nodejs reads, the way it reads it: JSON.parse of
// VCAP_APPLICATION and `uris.join`, which throws (a 500) when a field is missing.
const http = require("http");

function info() {
  const app = JSON.parse(process.env.VCAP_APPLICATION);
  return {
    name: app.name,
    uris: app.uris.join(", "),
    space: app.space_name,
    index: process.env.CF_INSTANCE_INDEX,
    mem: app.limits.mem,
    disk: app.limits.disk,
    memory_limit: process.env.MEMORY_LIMIT,
    instance_id_matches: app.instance_id === process.env.CF_INSTANCE_GUID,
  };
}

http.createServer((req, res) => {
  try {
    const body = JSON.stringify(info());
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(body);
  } catch (err) {
    res.writeHead(500, { "Content-Type": "text/plain" });
    res.end(String(err));
  }
}).listen(process.env.PORT || 3000);
