// PostGraphile 4 as a team would run it in production: one Node process, library mode on
// node's http server, default mutations off, no query log, no GraphiQL, no watch.
//   DATABASE_URL=postgres://... PORT=5000 POOL=10 node server.js
// Scope is row-level security (setup.sql): each request runs as og_bench_peer with the
// SHA-256 of its bearer token in og.token_hash.
"use strict";
const crypto = require("crypto");
const http = require("http");
const { Pool } = require("pg");
const { postgraphile } = require("postgraphile");

const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.POOL || 10) });
// JIT off, as ownergraph's engine does (db/engine.py).
pool.on("connect", (client) => client.query("SET jit = off"));

const middleware = postgraphile(pool, "public", {
  disableDefaultMutations: true,
  disableQueryLog: true,
  graphiql: false,
  watchPg: false,
  simpleCollections: "both",
  setofFunctionsContainNulls: false,
  ignoreRBAC: false,
  retryOnInitFail: false,
  pgSettings: (req) => {
    const token = (req.headers.authorization || "").replace(/^Bearer\s+/i, "").trim();
    return {
      role: "og_bench_peer",
      "og.token_hash": crypto.createHash("sha256").update(token).digest("hex"),
    };
  },
});

http.createServer(middleware).listen(Number(process.env.PORT), "127.0.0.1");
