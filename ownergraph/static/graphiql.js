// GraphiQL for ownergraph, from files this server serves itself (no CDN: air-gapped sites).
// Queries and mutations go over HTTP; subscriptions stream over HTTP multipart, so the
// Authorization header of the headers editor applies to both. `?token=…` prefills it,
// `?q=…` the query editor (a link to share; `?query=` would run the query instead).
(function () {
  const url = window.location.origin + window.location.pathname;
  const params = new URLSearchParams(window.location.search);
  const token = params.get("token");
  if (token) {
    // Out of the address bar (and history) once read.
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : ""));
  }
  const initialHeaders = token
    ? JSON.stringify({ Authorization: "Bearer " + token }, null, 2)
    : undefined;
  const sharedQuery = params.get("q") || undefined;
  const httpFetcher = GraphiQL.createFetcher({ url });

  function isSubscription(graphQLParams, opts) {
    const document = opts && opts.documentAST;
    if (!document) return /^\s*subscription\b/.test(graphQLParams.query || "");
    const operations = document.definitions.filter(function (d) {
      return d.kind === "OperationDefinition";
    });
    const name = graphQLParams.operationName;
    const operation = operations.find(function (d) {
      return name ? d.name && d.name.value === name : true;
    });
    return Boolean(operation && operation.operation === "subscription");
  }

  async function* multipart(graphQLParams, headers) {
    const response = await fetch(url, {
      method: "POST",
      headers: Object.assign({}, headers, {
        "Content-Type": "application/json",
        Accept: "multipart/mixed;subscriptionSpec=1.0, application/json",
      }),
      body: JSON.stringify(graphQLParams),
    });
    const type = response.headers.get("content-type") || "";
    if (!type.startsWith("multipart/mixed")) {
      yield await response.json(); // refused before streaming: the errors say why
      return;
    }
    // Parts end with "\r\n--graphql"; the stream ends with "\r\n--graphql--".
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const delimiter = "\r\n--graphql";
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf(delimiter)) >= 0) {
        const part = buffer.slice(0, end);
        buffer = buffer.slice(end + delimiter.length);
        const start = part.indexOf("\r\n\r\n");
        const body = start >= 0 ? part.slice(start + 4).trim() : "";
        if (body) {
          const message = JSON.parse(body);
          if (message.payload) yield message.payload; // {} is a heartbeat
        }
        if (buffer.startsWith("--")) return;
      }
    }
  }

  function fetcher(graphQLParams, opts) {
    if (isSubscription(graphQLParams, opts)) {
      return multipart(graphQLParams, (opts && opts.headers) || {});
    }
    return httpFetcher(graphQLParams, opts);
  }

  // Demo sign-in (ownergraph/demo_login.py): only where the server offers it, i.e. on a
  // loopback-bound development server with OWNERGRAPH_DEMO_LOGIN=true; 404 elsewhere.
  fetch("/demo-login", { headers: { Accept: "application/json" } })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (listed) {
      if (!listed || !listed.users.length) return;
      const pick = document.createElement("select");
      pick.id = "demo-login";
      pick.title = "Sign in as a demo user (this development server only)";
      pick.style.cssText = "position:fixed;top:6px;right:8px;z-index:100;font:13px system-ui";
      pick.add(new Option("Sign in as a demo user…", ""));
      listed.users.forEach(function (u) {
        pick.add(new Option(u.name + " · " + u.role + " (" + u.email + ")", u.email));
      });
      pick.addEventListener("change", async function () {
        if (!pick.value) return;
        const r = await fetch("/demo-login", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ email: pick.value }),
        });
        if (!r.ok) return;
        // The page reads ?token= into the headers editor, as a shared link would.
        params.set("token", (await r.json()).token);
        window.location.search = params.toString();
      });
      document.body.appendChild(pick);
    })
    .catch(function () {});

  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      headers: initialHeaders,
      query: sharedQuery,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: !token,
      defaultQuery:
        "# Put {\"Authorization\": \"Bearer <token>\"} in Headers below\n" +
        "# (ownergraph token issue --user alice@demo.test), then run:\n" +
        "query Me {\n  me { name role }\n}\n",
    })
  );
})();
