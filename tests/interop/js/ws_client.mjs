#!/usr/bin/env node
// An independent XMPP client over WebSocket (RFC 7395), built on @xmpp/client, for interop
// tests (driven from Python by tests/interop/node.py). It logs in with SASL (SCRAM-SHA-1, or
// PLAIN on a secure stream, as @xmpp/client negotiates; --mechanism forces one), binds
// --resource, sends initial presence, then runs one action:
//
//   login                       log in, then log out
//   send --to JID --body TEXT   send --count chat messages (default 1) and wait for as many
//                               replies with a body from the bare JID of --to (--no-wait: don't)
//   echo [--count N]            wait for N chat messages with a body, answer each with the
//                               same body (type, thread kept)
//   receive [--count N]         wait for N chat messages with a body, answer nothing
//
// SASL2 (XEP-0388) with Bind 2 and FAST (XEP-0484) is what @xmpp/client uses when the server
// offers it: --user-agent-id ID sends <user-agent id> (FAST tokens belong to it; without it no
// token is handed out), --token T [--token-expiry ISO] [--token-mechanism M] logs in with a FAST
// token (--password may then be omitted: if the token is refused, the login fails).
//
// Output: one JSON object per line on stdout, with an "event" field:
//   {"event":"authenticating","mechanism":"SCRAM-SHA-1","offered":["SCRAM-SHA-1","PLAIN"]}
//     ("offered": what the server offers AND @xmpp/client supports: SCRAM-SHA-1, PLAIN, ANONYMOUS)
//   {"event":"sasl2","mechanism":"HT-SHA-256-NONE"}   (an <authenticate> went out)
//   {"event":"sasl2-failure","condition":"not-authorized"}
//   {"event":"token","mechanism":"HT-SHA-256-NONE","token":…,"expiry":…}  (a FAST token came)
//   {"event":"online","jid":"alice@localhost/r1"}     (after the initial presence was sent)
//   {"event":"sent","to":…,"type":"chat","id":…,"body":…}
//   {"event":"received","from":…,"to":…,"type":…,"id":…,"body":…|null}
//   {"event":"error","kind":"timeout|auth|stream|stanza|socket|usage","message":…,"condition":…}
//   {"event":"done","sent":N,"received":N}
// Exit status: 0 after "done"; 1 after an "error" event; 2 on a usage error; 3 on timeout.
// Everything is bounded by --timeout seconds (default 20) for the whole run.
// @xmpp/client uses the global WebSocket: Node.js >= 22, or 20.10+ with --experimental-websocket.
//
//   node ws_client.mjs --service ws://127.0.0.1:5280/xmpp-websocket --domain localhost \
//     --username alice --password secret --resource r1 send --to bob@localhost --body hi

import { parseArgs } from "node:util";
import { client, xml } from "@xmpp/client";

const USAGE =
  "usage: ws_client.mjs --service URL --domain D --username U --password P " +
  "[--resource R] [--mechanism M] [--timeout S] [--debug] [--user-agent-id ID] " +
  "[--token T [--token-expiry ISO] [--token-mechanism M]] " +
  "login | send --to JID --body TEXT [--count N] [--no-wait] | echo [--count N] | receive [--count N]";

function emit(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

class Failure extends Error {
  constructor(kind, message, condition = null, status = 1) {
    super(message);
    this.kind = kind;
    this.condition = condition;
    this.status = status;
  }
}

function parse(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        service: { type: "string" },
        domain: { type: "string" },
        username: { type: "string" },
        password: { type: "string" },
        resource: { type: "string", default: "ws-client" },
        mechanism: { type: "string" },
        timeout: { type: "string", default: "20" },
        to: { type: "string" },
        body: { type: "string" },
        count: { type: "string", default: "1" },
        "no-wait": { type: "boolean", default: false },
        debug: { type: "boolean", default: false },
        "user-agent-id": { type: "string" },
        token: { type: "string" },
        "token-expiry": { type: "string" },
        "token-mechanism": { type: "string", default: "HT-SHA-256-NONE" },
      },
    });
  } catch (err) {
    throw new Failure("usage", `${err.message}; ${USAGE}`, null, 2);
  }
  const { values, positionals } = parsed;
  const action = positionals[0];
  const required = values.token ? ["service", "domain", "username"] : ["service", "domain", "username", "password"];
  const missing = required.filter((k) => !values[k]);
  if (action === "send") missing.push(...["to", "body"].filter((k) => values[k] === undefined));
  if (missing.length > 0) {
    throw new Failure("usage", `missing --${missing.join(", --")}; ${USAGE}`, null, 2);
  }
  if (positionals.length !== 1 || !["login", "send", "echo", "receive"].includes(action)) {
    throw new Failure("usage", `one action expected; ${USAGE}`, null, 2);
  }
  const count = Number(values.count);
  const timeout = Number(values.timeout);
  if (!Number.isInteger(count) || count < 1) {
    throw new Failure("usage", `--count must be a positive integer; ${USAGE}`, null, 2);
  }
  if (!(timeout > 0)) {
    throw new Failure("usage", `--timeout must be a positive number; ${USAGE}`, null, 2);
  }
  return { ...values, action, count, timeout, wait: !values["no-wait"] };
}

function bare(address) {
  return String(address ?? "").split("/", 1)[0].toLowerCase();
}

function stanzaError(stanza) {
  const error = stanza.getChild("error");
  const condition = error?.children.find(
    (child) => typeof child !== "string" && child.attrs.xmlns === "urn:ietf:params:xml:ns:xmpp-stanzas",
  );
  return condition?.name ?? "undefined-condition";
}

function pickMechanism(options, offered, entity) {
  if (options.mechanism) {
    if (!offered.includes(options.mechanism)) {
      throw new Failure("auth", `mechanism ${options.mechanism} not offered`, "invalid-mechanism");
    }
    return options.mechanism;
  }
  // as @xmpp/client does by itself: its order (SCRAM-SHA-1, PLAIN, …), PLAIN only if secure
  // COMPAT(@xmpp/client): it counts ws:// to localhost/127.0.0.1/::1 as secure.
  if (entity.isSecure()) return offered[0];
  return offered.find((mechanism) => mechanism !== "PLAIN");
}

async function run(options) {
  let fail;
  const failed = new Promise((_resolve, reject) => {
    fail = reject;
  });
  failed.catch(() => {}); // observed through Promise.race below

  const userAgent = options["user-agent-id"]
    ? xml("user-agent", { id: options["user-agent-id"] }, xml("software", {}, "ws_client.mjs"))
    : undefined;
  const xmpp = client({
    service: options.service,
    domain: options.domain,
    username: options.username,
    resource: options.resource,
    timeout: Math.min(10000, options.timeout * 1000),
    credentials: async (authenticate, offered, _fast, entity) => {
      const mechanism = pickMechanism(options, offered, entity);
      emit("authenticating", { mechanism: mechanism ?? null, offered });
      if (!mechanism) throw new Failure("auth", "no usable SASL mechanism", "invalid-mechanism");
      const credentials = { username: options.username, password: options.password };
      if (options.token) {
        const expiry = options["token-expiry"] ?? new Date(Date.now() + 3600e3).toISOString();
        credentials.token = { mechanism: options["token-mechanism"], token: options.token, expiry };
      }
      await authenticate(credentials, mechanism, userAgent);
    },
  });
  xmpp.fast.saveToken = async (token) => {
    emit("token", { mechanism: token.mechanism, token: token.token, expiry: token.expiry });
  };
  xmpp.on("send", (element) => {
    if (element.is("authenticate", "urn:xmpp:sasl:2")) {
      emit("sasl2", { mechanism: element.attrs.mechanism });
    }
  });
  xmpp.on("element", (element) => {
    if (element.is("failure", "urn:xmpp:sasl:2")) {
      const condition = element.children.find(
        (child) => typeof child !== "string" && child.attrs.xmlns === "urn:ietf:params:xml:ns:xmpp-sasl",
      );
      emit("sasl2-failure", { condition: condition?.name ?? null });
    }
  });
  xmpp.reconnect.stop(); // one attempt: a test wants the failure, not a retry

  if (options.debug) {
    xmpp.on("send", (element) => process.stderr.write(`>> ${element}\n`));
    xmpp.on("element", (element) => process.stderr.write(`<< ${element}\n`));
  }

  let stopping = false;
  xmpp.on("error", (err) => {
    if (err instanceof Failure) return fail(err);
    const condition = err.condition ?? err.code ?? null;
    const kind = err.name === "SASLError" ? "auth" : err.name === "StreamError" ? "stream" : "socket";
    fail(new Failure(kind, err.message || String(err), condition));
  });
  xmpp.on("disconnect", () => {
    if (!stopping) fail(new Failure("socket", "disconnected by the server"));
  });

  const received = [];
  let wake = () => {};
  const messageFrom = (stanza) => {
    const body = stanza.getChildText("body");
    const fields = {
      from: stanza.attrs.from ?? null,
      to: stanza.attrs.to ?? null,
      type: stanza.attrs.type ?? "normal",
      id: stanza.attrs.id ?? null,
      body,
    };
    emit("received", fields);
    if (fields.type === "error") {
      const condition = stanzaError(stanza);
      fail(new Failure("stanza", `message error from ${fields.from}: ${condition}`, condition));
    } else if (body !== null) {
      received.push({ stanza, ...fields });
      wake();
    }
  };
  xmpp.on("stanza", (stanza) => {
    if (stanza.is("message")) messageFrom(stanza);
  });

  const nextMessage = async (accept) => {
    for (;;) {
      const index = received.findIndex(accept);
      if (index >= 0) return received.splice(index, 1)[0];
      await Promise.race([new Promise((resolve) => (wake = resolve)), failed]);
    }
  };

  let sentCount = 0;
  const sendMessage = async (to, body, type = "chat", thread = null) => {
    const id = `ws-${process.pid}-${++sentCount}`;
    const children = [xml("body", {}, body)];
    if (thread) children.push(xml("thread", {}, thread));
    await xmpp.send(xml("message", { to, type, id }, ...children));
    emit("sent", { to, type, id, body });
  };

  const address = await Promise.race([xmpp.start(), failed]);
  await Promise.race([xmpp.send(xml("presence")), failed]);
  emit("online", { jid: String(address) });

  let receivedCount = 0;
  if (options.action === "send") {
    for (let i = 0; i < options.count; i++) {
      const body = options.count === 1 ? options.body : `${options.body} ${i + 1}`;
      await Promise.race([sendMessage(options.to, body), failed]);
    }
    if (options.wait) {
      const peer = bare(options.to);
      for (let i = 0; i < options.count; i++) {
        await nextMessage((m) => bare(m.from) === peer);
        receivedCount++;
      }
    }
  } else if (options.action === "echo" || options.action === "receive") {
    for (let i = 0; i < options.count; i++) {
      const message = await nextMessage(() => true);
      receivedCount++;
      if (options.action === "echo") {
        const thread = message.stanza.getChildText("thread");
        const type = message.type === "groupchat" ? "chat" : message.type;
        await Promise.race([sendMessage(message.from, message.body, type, thread), failed]);
      }
    }
  }

  stopping = true;
  await Promise.race([xmpp.stop(), failed]);
  emit("done", { sent: sentCount, received: receivedCount });
}

async function main() {
  if (typeof globalThis.WebSocket !== "function") {
    const message = "this Node.js has no global WebSocket: use Node.js >= 22, or 20 with --experimental-websocket";
    emit("error", { kind: "usage", message, condition: null });
    process.exit(2);
  }
  let options;
  try {
    options = parse(process.argv.slice(2));
  } catch (err) {
    emit("error", { kind: err.kind, message: err.message, condition: null });
    process.exit(err.status);
  }
  const timer = setTimeout(() => {
    emit("error", { kind: "timeout", message: `no success within ${options.timeout}s`, condition: null });
    process.exit(3);
  }, options.timeout * 1000);
  try {
    await run(options);
    clearTimeout(timer);
    process.exit(0);
  } catch (err) {
    const failure =
      err instanceof Failure
        ? err
        : new Failure(
            err.name === "SASLError" ? "auth" : "socket",
            err.message || String(err),
            err.condition ?? null,
          );
    emit("error", { kind: failure.kind, message: failure.message, condition: failure.condition });
    process.exit(failure.status);
  }
}

await main();
