// Live updates over graphql-transport-ws (graphql-ws's client, vendored). The token goes
// in connection_init. Each subscription resumes with `since` = the last cursor it got,
// kept in session storage, so a reconnect (or a reload) replays what was missed, and an
// event seen twice (replay racing the live stream) is dropped by its id.
import { WS_URL, token, errorOf } from "./api.js";

const CLOSE_REVOKED = 4403;
const seen = new Set();

function cursorKey(name) {
  return `ownergraph.dashboard.${name}.cursor`;
}

export function lastCursor(name) {
  return sessionStorage.getItem(cursorKey(name));
}

export function keepCursor(name, cursor) {
  if (cursor) sessionStorage.setItem(cursorKey(name), cursor);
}

export function markSeen(ids) {
  for (const id of ids) seen.add(id);
}

export function forgetCursors() {
  for (const name of ["events", "reminders"]) sessionStorage.removeItem(cursorKey(name));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// `subscriptions`: [{name, query, field, onData(item, extensions)}]. Returns stop().
export function connectLive(subscriptions, { onState, onError, onSignedOut }) {
  let client = null;
  let stopped = false;
  let restarting = false;
  const disposers = [];

  function start() {
    client = graphqlWs.createClient({
      url: WS_URL,
      lazy: false,
      keepAlive: 10_000,
      retryAttempts: Infinity,
      shouldRetry: () => true,
      retryWait: (retries) => sleep(Math.min(250 * 2 ** retries, 3000)),
      connectionParams: () => ({ authorization: "Bearer " + token.get() }),
      onNonLazyError: () => {},
      on: {
        connected: () => onState("live"),
        closed: (event) => {
          if (stopped) return;
          if (event && event.code === CLOSE_REVOKED) onSignedOut();
          else onState("reconnecting");
        },
      },
    });
    for (const sub of subscriptions) {
      // Read at every (re)subscribe, so a retry asks for what came after the last event.
      const variables = { toJSON: () => ({ since: lastCursor(sub.name) }) };
      const dispose = client.subscribe(
        { query: sub.query, variables },
        {
          next: (message) => {
            if (message.errors && message.errors.length) {
              onError(errorOf(message.errors, 200));
              return;
            }
            const item = message.data && message.data[sub.field];
            if (!item) return;
            keepCursor(sub.name, item.cursor);
            if (seen.has(item.id)) return;
            seen.add(item.id);
            sub.onData(item, message.extensions || {});
          },
          error: (err) => restart(err),
          complete: () => restart(null),
        }
      );
      disposers.push(dispose);
    }
  }

  async function restart(err) {
    if (stopped || restarting) return;
    restarting = true;
    const closed = err && typeof err.code === "number";
    if (closed && err.code === CLOSE_REVOKED) {
      restarting = false;
      return onSignedOut();
    }
    if (Array.isArray(err)) onError(errorOf(err, 200));
    // A fatal close or an ended stream: start over, with a new client, after a pause.
    stop(false);
    onState("reconnecting");
    await sleep(1000);
    restarting = false;
    if (!stopped) start();
  }

  function stop(forGood = true) {
    if (forGood) stopped = true;
    while (disposers.length) disposers.pop()();
    if (client) client.dispose();
    client = null;
  }

  start();
  return () => stop(true);
}
