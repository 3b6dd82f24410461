// A tiny Node web app: answers every GET with a greeting and logs each request.
const http = require("http");

const GREETING = "hello from node-web";
const port = Number(process.env.PORT || 8080);

http
  .createServer((req, res) => {
    console.log(`${req.method} ${req.url}`);
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end(`${GREETING}\n`);
  })
  .listen(port, "0.0.0.0", () => console.log(`listening on :${port}`));

process.on("SIGTERM", () => process.exit(0));
