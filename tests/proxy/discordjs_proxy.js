// @discordjs/proxy 2.1, unmodified, serving one HTTP port in front of the loopback Discord.
//
// Usage: node discordjs_proxy.js '{"api": "http://127.0.0.1:PORT/api", "timeout": 15000,
//                                   "retries": 3, "reject_on_rate_limit": false}'
// Prints one line `listening <port>` on stdout once it accepts connections (port 0 picks one).
// Every option except `api` is @discordjs/rest's own, with its defaults when left out.
"use strict";

const http = require("node:http");
const { REST } = require("@discordjs/rest");
const { proxyRequests } = require("@discordjs/proxy");

const setup = JSON.parse(process.argv[2] || "{}");
const options = { api: setup.api };
if (setup.timeout !== undefined) options.timeout = setup.timeout;
if (setup.retries !== undefined) options.retries = setup.retries;
if (setup.global_requests_per_second !== undefined) {
    options.globalRequestsPerSecond = setup.global_requests_per_second;
}
// The documented form: a list of route prefixes whose rate limits are answered with a 429
// instead of being waited out. "/" covers every route.
if (setup.reject_on_rate_limit) options.rejectOnRateLimit = ["/"];

const rest = new REST(options);
const handler = proxyRequests(rest);

// proxyRequests rethrows errors it does not know (a connection reset after its retries); as a
// bare `createServer(proxyRequests(rest))` that would end the process on an unhandled
// rejection. A deployment restarts it; here the request gets a 502 and the proxy stays up.
const server = http.createServer((req, res) => {
    handler(req, res).catch((error) => {
        process.stderr.write(`proxy: ${error && error.message}\n`);
        if (!res.headersSent) res.statusCode = 502;
        res.end();
    });
});
server.listen(setup.port || 0, "127.0.0.1", () => {
    process.stdout.write(`listening ${server.address().port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
