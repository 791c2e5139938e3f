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
