// @ts-check
/**
 * xmpp-video.js — a browser client for the xmpp-video JSON protocol (SPEC §5) with WebRTC calls.
 *
 * A plain ES module (no build step, no dependency), served by the server at
 * `/static/xmpp-video.js` and typed with JSDoc (checked by `tsc --noEmit --checkJs`).
 *
 * ```js
 * import { XmppVideoClient } from "/static/xmpp-video.js";
 *
 * const client = new XmppVideoClient();            // same origin as the page
 * await client.login("alice", "secret");           // POST /api/auth/login, then WebSocket /ws
 * client.addEventListener("call", (event) => {     // every new call, incoming or outgoing
 *   const call = event.detail;
 *   call.addEventListener("statechange", () => console.log(call.state));
 *   call.addEventListener("remotestream", () => (remoteVideo.srcObject = call.remoteStream));
 *   if (call.direction === "incoming") call.answer();
 * });
 * const call = await client.call("bob", { video: true });  // rings every device of bob
 * await call.hangup();
 * ```
 *
 * What it does for you:
 * - **Events for every server message**: each message is dispatched as a `CustomEvent` named
 *   after its `type` (`auth_ok`, `call_incoming`, `call_ringing`, `call_accepted`,
 *   `call_rejected`, `call_ended`, `sdp_offer`, `sdp_answer`, `ice_candidate`, `pong`, `error`,
 *   `server_shutdown`, …) with the message as `detail`, and as a generic `message` event.
 *   Higher-level events: `statechange` (connection state), `call` (a new {@link Call}),
 *   `disconnected` (the WebSocket dropped), `reconnected`, `signedout`.
 * - **Promises**: `login`, `call`, `answer`, `reject`, `hangup` settle when the server has taken
 *   the command (an `error` with the command's `ref` rejects them with an {@link XmppVideoError}
 *   carrying the protocol's error `code`). Commands the server does not answer are followed by a
 *   `ping`: the server handles a connection's messages in order, so its `pong` confirms them.
 * - **WebRTC**: `call()` and `answer()` ask for the camera and microphone, fetch TURN
 *   credentials (`GET /api/turn/credentials`, cached until shortly before they expire) and build
 *   the `RTCPeerConnection` with them (`iceTransportPolicy: "relay"` on request: TURN only).
 *   The caller offers once the callee accepted (`sdp_offer`), the callee answers (`sdp_answer`);
 *   ICE candidates are trickled both ways (`ice_candidate`; `candidate: null` ends them) and
 *   the other side's are queued until the remote description is set.
 * - **Reconnection**: when the WebSocket drops (network loss, server restart) the client gets a
 *   fresh access token with its refresh token (`POST /api/auth/token`, which rotates the refresh
 *   token) and reconnects with backoff (0.5 s doubling to 30 s, with jitter). A refused refresh
 *   token signs the client out (`signedout` with reason `session_expired`). Calls still ringing
 *   or being set up end with reason `connection_lost`; a call whose media is already flowing
 *   keeps its media (it is peer to peer), but its signalling is gone: hanging it up then only
 *   closes it locally. A `ping` every 25 s detects a dead connection the browser did not notice.
 * - **Rate**: the server accepts 20 messages per second per connection by default
 *   (`JSON_MESSAGES_PER_SECOND`); the client sends at most 15 in any second and queues the rest.
 *
 * Not done by this module: renegotiation and ICE restart. The server supports both (a new
 * `sdp_offer` in an active call, answered by an `sdp_answer`; the other party's changes arrive
 * as an `sdp_offer`), but this module keeps calls simple: it ignores `negotiationneeded`, the
 * media of a call are fixed when it starts, and muting or turning the camera off only disables
 * the track (`track.enabled = false`), which needs no new offer. A call whose ICE fails ends
 * with reason `failed`.
 *
 * @module xmpp-video
 */

/** @typedef {"audio" | "video"} CallType */
/** @typedef {"signed_out" | "connecting" | "online" | "reconnecting"} ClientState */
/** @typedef {"outgoing" | "incoming"} CallDirection */
/**
 * - `calling`: initiated, no device rang yet; `ringing`: a device of the callee rings;
 * - `incoming`: someone calls this device; `connecting`: answered, media being set up;
 * - `active`: media flowing (ICE and DTLS connected); `ended`: over (see `endReason`).
 * @typedef {"calling" | "ringing" | "incoming" | "connecting" | "active" | "ended"} CallState
 */

/**
 * The SPEC §5 `ice_candidate.candidate` value (`null` ends the candidates).
 * @typedef {{candidate: string, sdpMid: string | null, sdpMLineIndex: number | null}} CandidateJson
 */

/** @typedef {{type: "auth_ok", user: string, jid: string, ref?: unknown}} AuthOkMessage */
/** @typedef {{type: "auth_error", code: string, message?: string, ref?: unknown}} AuthErrorMessage */
/** @typedef {{type: "call_initiated", call_id: string, ref?: unknown}} CallInitiatedMessage */
/** @typedef {{type: "call_incoming", call_id: string, from: string, call_type: CallType}} CallIncomingMessage */
/** @typedef {{type: "call_ringing", call_id: string}} CallRingingMessage */
/** @typedef {{type: "call_accepted", call_id: string, by: string}} CallAcceptedMessage */
/** @typedef {{type: "call_rejected", call_id: string, reason: string}} CallRejectedMessage */
/** @typedef {{type: "call_ended", call_id: string, reason: string}} CallEndedMessage */
/** @typedef {{type: "sdp_offer", call_id: string, sdp: string}} SdpOfferMessage */
/** @typedef {{type: "sdp_answer", call_id: string, sdp: string}} SdpAnswerMessage */
/** @typedef {{type: "ice_candidate", call_id: string, candidate: CandidateJson | null}} IceCandidateMessage */
/** @typedef {{type: "pong", ref?: unknown}} PongMessage */
/** @typedef {{type: "error", code: string, message: string, ref?: unknown}} ErrorMessage */
/** @typedef {{type: "server_shutdown"}} ServerShutdownMessage */

/**
 * Every message the server sends.
 * @typedef {AuthOkMessage | AuthErrorMessage | CallInitiatedMessage | CallIncomingMessage
 *   | CallRingingMessage | CallAcceptedMessage | CallRejectedMessage | CallEndedMessage
 *   | SdpOfferMessage | SdpAnswerMessage | IceCandidateMessage | PongMessage | ErrorMessage
 *   | ServerShutdownMessage} ServerMessage
 */

/**
 * `POST /api/auth/login` and `/api/auth/token` answers (SPEC §4).
 * @typedef {{access_token: string, refresh_token: string, token_type: string, expires_in: number, jid: string}} TokenAnswer
 */
/** @typedef {{username: string, password: string, ttl: number, uris: string[]}} TurnCredentials */

/**
 * Where the refresh token is kept between page loads: any `Storage` (e.g. `sessionStorage`),
 * or the default in-memory store (forgotten on reload).
 * @typedef {{getItem(key: string): string | null, setItem(key: string, value: string): void, removeItem(key: string): void}} TokenStore
 */

/**
 * @typedef {object} ClientOptions
 * @property {string} [server] base URL of the server (default: the page's origin)
 * @property {string} [websocketUrl] default: `ws(s)://<server host>/ws`
 * @property {RTCIceTransportPolicy} [iceTransportPolicy] `"relay"`: TURN only (default `"all"`)
 * @property {RTCIceServer[]} [extraIceServers] added to the TURN servers the server hands out
 * @property {TokenStore} [tokenStore] where to keep the refresh token (default: memory)
 * @property {boolean} [reconnect] reconnect after a drop (default true)
 * @property {number} [pingInterval] ms between keepalive pings; 0 = none (default 25000)
 * @property {number} [requestTimeout] ms to wait for the server's answer (default 10000)
 * @property {number} [maxMessagesPerSecond] outgoing rate cap (default 15)
 */

/**
 * @typedef {object} MediaOptions
 * @property {boolean} [video] with video (default: true for `call`, the call's type for `answer`)
 * @property {MediaStream} [localStream] use this stream instead of asking `getUserMedia`
 */

const STORE_KEY = "xmpp-video.refresh";
const CLOSE_UNAUTHORIZED = 4001;
const TURN_MARGIN_S = 60; // refetch TURN credentials this long before they expire

/** An error of the HTTP API, the JSON protocol, or the client itself, with a stable `code`. */
export class XmppVideoError extends Error {
  /**
   * @param {string} code e.g. `invalid_credentials`, `user_unavailable`, `not_connected`
   * @param {string} message a human-readable text
   * @param {number} [status] the HTTP status, for HTTP API errors
   */
  constructor(code, message, status) {
    super(message);
    this.name = "XmppVideoError";
    this.code = code;
    this.status = status;
    /** @type {number | null} seconds, from a 429's `Retry-After` */
    this.retryAfter = null;
  }
}

class MemoryStore {
  constructor() {
    /** @type {Map<string, string>} */
    this.values = new Map();
  }
  /** @param {string} key */
  getItem(key) {
    return this.values.get(key) ?? null;
  }
  /** @param {string} key @param {string} value */
  setItem(key, value) {
    this.values.set(key, value);
  }
  /** @param {string} key */
  removeItem(key) {
    this.values.delete(key);
  }
}

/**
 * @template T
 * @typedef {{resolve: (value: T) => void, reject: (error: Error) => void, timer: ReturnType<typeof setTimeout>, match: (message: ServerMessage) => boolean}} Pending
 */

/**
 * One call on this device. Created by the client (`call` event); drive it with `answer()`,
 * `reject()`, `hangup()`, `setMuted()`, `setCameraOff()`.
 *
 * Events: `statechange` (see {@link CallState}), `localstream`, `remotestream` (a track was
 * added to `remoteStream`), `ended` (`detail: {reason}`).
 */
export class Call extends EventTarget {
  /**
   * @param {XmppVideoClient} client
   * @param {string} id
   * @param {string} peer the other party (bare JID)
   * @param {CallDirection} direction
   * @param {CallType} type
   */
  constructor(client, id, peer, direction, type) {
    super();
    this.client = client;
    this.id = id;
    this.peer = peer;
    this.direction = direction;
    this.type = type;
    /** @type {CallState} */
    this.state = direction === "incoming" ? "incoming" : "calling";
    /** @type {string | null} why it ended: a SPEC §5 `call_ended` / `call_rejected` reason,
     * or `connection_lost`, `media_error` */
    this.endReason = null;
    /** true when this device ended it (hangup, reject, sign-out), false when the other side or
     * the server did */
    this.endedLocally = false;
    /** @type {number | null} `Date.now()` when the media started flowing */
    this.startedAt = null;
    /** @type {MediaStream | null} */
    this.localStream = null;
    /** the other side's tracks, as they arrive */
    this.remoteStream = new MediaStream();
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** @type {RTCConfiguration | null} TURN servers and policy, fetched before the call */
    this._configuration = null;
    /** false once the WebSocket this call was signalled on is gone */
    this.signalling = true;
    this.muted = false;
    this.cameraOff = false;
    /** @type {CandidateJson[]} the other side's candidates before the remote description */
    this._remoteCandidates = [];
    /** @type {(CandidateJson | null)[] | null} ours, until the offer/answer went out */
    this._localCandidates = [];
    this._remoteDescribed = false;
    /** @type {Promise<void>} settles when the call ends */
    this.ended = new Promise((resolve) => {
      this.addEventListener("ended", () => resolve(), { once: true });
    });
  }

  /** Answer this incoming call (see {@link XmppVideoClient.answer}). @param {MediaOptions} [options] */
  answer(options) {
    return this.client.answer(this, options);
  }

  /** Refuse this incoming call. @param {"decline" | "busy"} [reason] */
  reject(reason = "decline") {
    return this.client.reject(this, reason);
  }

  /** Hang up, or cancel an outgoing call that was not answered yet. */
  hangup() {
    return this.client.hangup(this);
  }

  /** Mute or unmute the microphone (no renegotiation). @param {boolean} muted */
  setMuted(muted) {
    this.muted = muted;
    for (const track of this.localStream?.getAudioTracks() ?? []) track.enabled = !muted;
  }

  /** Turn the camera off or on (the other side sees black frames). @param {boolean} off */
  setCameraOff(off) {
    this.cameraOff = off;
    for (const track of this.localStream?.getVideoTracks() ?? []) track.enabled = !off;
  }

  /** true once the call ended */
  get over() {
    return this.state === "ended";
  }

  /** Seconds since the media started (0 before). */
  get duration() {
    return this.startedAt === null ? 0 : Math.floor((Date.now() - this.startedAt) / 1000);
  }

  /** The peer connection's statistics (`inbound-rtp` has `framesDecoded` for video). */
  async getStats() {
    if (this.pc === null) return new Map();
    return this.pc.getStats();
  }

  /** Frames decoded from the other side's video so far. */
  async framesDecoded() {
    let frames = 0;
    for (const report of (await this.getStats()).values()) {
      if (report.type === "inbound-rtp" && report.kind === "video") {
        frames += report.framesDecoded ?? 0;
      }
    }
    return frames;
  }

  /** @param {CallState} state */
  _setState(state) {
    if (this.state === state || this.state === "ended") return;
    this.state = state;
    if (state === "active" && this.startedAt === null) this.startedAt = Date.now();
    this.dispatchEvent(new CustomEvent("statechange", { detail: { state } }));
  }

  /**
   * Close the media and tell listeners.
   * @param {string} reason
   * @param {boolean} local this device ended it
   */
  _end(reason, local) {
    if (this.state === "ended") return;
    this.endReason = reason;
    this.endedLocally = local;
    this.state = "ended";
    if (this.pc !== null) {
      this.pc.onicecandidate = null;
      this.pc.ontrack = null;
      this.pc.onconnectionstatechange = null;
      this.pc.close();
    }
    for (const track of this.localStream?.getTracks() ?? []) track.stop();
    this.dispatchEvent(new CustomEvent("statechange", { detail: { state: "ended" } }));
    this.dispatchEvent(new CustomEvent("ended", { detail: { reason } }));
  }
}

/**
 * The client: one signed-in user, one WebSocket (`/ws`, JSON protocol), any number of calls.
 *
 * Connection states (`statechange`): `signed_out` → `connecting` → `online`, and
 * `reconnecting` while it gets back after a drop.
 */
export class XmppVideoClient extends EventTarget {
  /** @param {ClientOptions} [options] */
  constructor(options = {}) {
    super();
    const base = options.server ?? globalThis.location?.origin ?? "http://localhost:8080";
    this.server = base.replace(/\/+$/, "");
    const url = new URL(this.server);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.pathname = "/ws";
    this.websocketUrl = options.websocketUrl ?? url.toString();
    /** @type {RTCIceTransportPolicy} */
    this.iceTransportPolicy = options.iceTransportPolicy ?? "all";
    this.extraIceServers = options.extraIceServers ?? [];
    this.tokenStore = options.tokenStore ?? new MemoryStore();
    this.autoReconnect = options.reconnect ?? true;
    this.pingInterval = options.pingInterval ?? 25000;
    this.requestTimeout = options.requestTimeout ?? 10000;
    this.maxMessagesPerSecond = options.maxMessagesPerSecond ?? 15;
    /** @type {ClientState} */
    this.state = "signed_out";
    /** the signed-in user's name and bare JID */
    this.user = "";
    this.jid = "";
    /** @type {Map<string, Call>} live calls by id */
    this.calls = new Map();
    /** @type {string | null} */
    this._accessToken = null;
    /** @type {WebSocket | null} */
    this._ws = null;
    this._nextId = 1;
    /** @type {Set<Pending<any>>} */
    this._pending = new Set();
    /** @type {string[]} */
    this._outbox = [];
    /** @type {number[]} */
    this._sentAt = [];
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._pumpTimer = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._reconnectTimer = null;
    /** @type {ReturnType<typeof setInterval> | null} */
    this._pingTimer = null;
    this._attempts = 0;
    /** @type {Promise<TokenAnswer> | null} */
    this._refreshing = null;
    /** @type {TurnCredentials | null} */
    this._turn = null;
    this._turnExpires = 0;
    this._onOnline = () => {
      if (this.state === "reconnecting") this._reconnectSoon(0);
    };
  }

  // -- signing in and out -----------------------------------------------------------------

  /**
   * Log in over HTTP, then open the WebSocket and authenticate it.
   * @param {string} username a local part (`alice`) or a bare JID
   * @param {string} password
   * @returns {Promise<{user: string, jid: string}>}
   * @throws {XmppVideoError} `invalid_credentials`, `rate_limited`, `network`, …
   */
  async login(username, password) {
    if (this.state !== "signed_out") this.logout();
    const answer = /** @type {TokenAnswer} */ (
      await this._post("/api/auth/login", { username, password })
    );
    this._tokens(answer);
    return this._connect("connecting");
  }

  /**
   * Sign in again with the refresh token kept in `tokenStore` (after a page reload).
   * @returns {Promise<{user: string, jid: string} | null>} null when there is none or it was refused
   */
  async resume() {
    if (this.tokenStore.getItem(STORE_KEY) === null) return null;
    try {
      await this._refresh();
    } catch (error) {
      if (error instanceof XmppVideoError && error.status === 401) return null;
      throw error;
    }
    return this._connect("connecting");
  }

  /** Hang up every call, close the WebSocket and forget the tokens. */
  logout() {
    this._signOut("logout");
  }

  // -- calls ------------------------------------------------------------------------------

  /**
   * Ring every device of `to`. Settles once the server took the call (`call_initiated`): the
   * returned call is then `calling`, and moves to `ringing`, `connecting`, `active`, `ended`.
   * @param {string} to `bob` or `bob@example.org`
   * @param {MediaOptions} [options]
   * @returns {Promise<Call>}
   * @throws {XmppVideoError} `user_unavailable` (no such user), `not_allowed` (yourself), …
   */
  async call(to, options = {}) {
    const video = options.video ?? true;
    this._requireOnline();
    const stream = options.localStream ?? (await this._media(video));
    /** @type {RTCConfiguration} */
    let configuration;
    try {
      configuration = await this.rtcConfiguration();
    } catch (error) {
      for (const track of stream.getTracks()) if (!options.localStream) track.stop();
      throw error;
    }
    /** @type {CallInitiatedMessage} */
    let initiated;
    try {
      initiated = /** @type {CallInitiatedMessage} */ (
        await this._request(
          { type: "call_initiate", to, call_type: video ? "video" : "audio" },
          (message) => message.type === "call_initiated"
        )
      );
    } catch (error) {
      if (!options.localStream) for (const track of stream.getTracks()) track.stop();
      throw error;
    }
    const peer = to.includes("@") ? to : `${to}@${this.jid.split("@")[1] ?? ""}`;
    const call = new Call(this, initiated.call_id, peer, "outgoing", video ? "video" : "audio");
    call.localStream = stream;
    call._configuration = configuration;
    this._add(call);
    call.dispatchEvent(new CustomEvent("localstream"));
    return call;
  }

  /**
   * Answer an incoming call on this device: camera and microphone, then `call_accept` (the
   * caller's other devices and this user's other devices stop ringing). The caller's offer
   * follows; the answer and the candidates go out by themselves.
   * @param {Call | string} callOrId
   * @param {MediaOptions} [options]
   * @returns {Promise<Call>}
   */
  async answer(callOrId, options = {}) {
    const call = this._find(callOrId);
    if (call.direction !== "incoming" || call.state !== "incoming") {
      throw new XmppVideoError("not_allowed", "this call is not ringing here");
    }
    call._setState("connecting");
    try {
      call.localStream = options.localStream ?? (await this._media(options.video ?? call.type === "video"));
      if (call.over) throw new XmppVideoError("call_ended", "the call ended");
      call._configuration = await this.rtcConfiguration();
      call.dispatchEvent(new CustomEvent("localstream"));
      await this._command({ type: "call_accept", call_id: call.id });
    } catch (error) {
      if (!call.over) {
        this._command({ type: "call_reject", call_id: call.id, reason: "decline" }).catch(() => {});
        this._finish(call, "media_error", true);
      }
      throw error;
    }
    return call;
  }

  /**
   * Refuse an incoming call (`decline`, or `busy` when already in a call).
   * @param {Call | string} callOrId
   * @param {"decline" | "busy"} [reason]
   */
  async reject(callOrId, reason = "decline") {
    const call = this._find(callOrId);
    if (call.direction !== "incoming" || call.state !== "incoming") {
      throw new XmppVideoError("not_allowed", "only a call ringing here can be rejected");
    }
    this._finish(call, reason === "busy" ? "busy" : "decline", true);
    await this._command({ type: "call_reject", call_id: call.id, reason });
  }

  /**
   * Hang up (or cancel an unanswered outgoing call). The call ends here at once; the promise
   * settles when the server took it.
   * @param {Call | string} [callOrId] default: the only live call
   */
  async hangup(callOrId) {
    const call = callOrId === undefined ? [...this.calls.values()][0] : this._find(callOrId);
    if (call === undefined) return;
    const signalled = call.signalling;
    this._finish(call, "hangup", true);
    if (signalled && this.state === "online") {
      await this._command({ type: "call_end", call_id: call.id });
    }
  }

  /** A round trip to the server. @returns {Promise<number>} milliseconds */
  async ping() {
    const started = performance.now();
    await this._request({ type: "ping" }, (message) => message.type === "pong");
    return performance.now() - started;
  }

  // -- TURN and the peer connection -------------------------------------------------------

  /**
   * TURN credentials for this user (`GET /api/turn/credentials`), cached until a minute before
   * they expire. @returns {Promise<TurnCredentials>}
   */
  async turnCredentials() {
    const now = Date.now() / 1000;
    if (this._turn !== null && now < this._turnExpires - TURN_MARGIN_S) return this._turn;
    const answer = /** @type {TurnCredentials} */ (await this._get("/api/turn/credentials"));
    this._turn = answer;
    this._turnExpires = now + answer.ttl;
    return answer;
  }

  /** The configuration of a new `RTCPeerConnection`: TURN servers and transport policy. */
  async rtcConfiguration() {
    const turn = await this.turnCredentials();
    /** @type {RTCIceServer[]} */
    const iceServers = [...this.extraIceServers];
    if (turn.uris.length > 0) {
      iceServers.push({ urls: turn.uris, username: turn.username, credential: turn.password });
    }
    if (this.iceTransportPolicy === "relay" && iceServers.length === 0) {
      throw new XmppVideoError("no_turn", "relay-only calls need a TURN server (TURN_URIS)");
    }
    /** @type {RTCConfiguration} */
    const configuration = { iceServers, iceTransportPolicy: this.iceTransportPolicy };
    return configuration;
  }

  /** @param {boolean} video @returns {Promise<MediaStream>} */
  async _media(video) {
    if (!globalThis.navigator?.mediaDevices?.getUserMedia) {
      throw new XmppVideoError(
        "media_unavailable",
        "this browser gives no camera or microphone here (a secure context is needed: https or localhost)"
      );
    }
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: true, video });
    } catch (error) {
      const name = error instanceof Error ? error.name : "";
      if (video && (name === "NotFoundError" || name === "OverconstrainedError")) {
        return this._media(false); // no camera: audio only
      }
      if (name === "NotAllowedError") {
        throw new XmppVideoError("media_denied", "camera or microphone access was denied");
      }
      if (name === "NotFoundError") {
        throw new XmppVideoError("media_unavailable", "no microphone found");
      }
      throw new XmppVideoError("media_error", `camera or microphone failed: ${String(error)}`);
    }
  }

  /** @param {Call} call */
  _peerConnection(call) {
    const pc = new RTCPeerConnection(call._configuration ?? { iceServers: [] });
    call.pc = pc;
    pc.onicecandidate = (event) => {
      const candidate = event.candidate;
      /** @type {CandidateJson | null} */
      const json =
        candidate === null || candidate.candidate === ""
          ? null
          : {
              candidate: candidate.candidate,
              sdpMid: candidate.sdpMid,
              sdpMLineIndex: candidate.sdpMLineIndex,
            };
      if (call._localCandidates !== null) call._localCandidates.push(json);
      else this._sendCandidate(call, json);
    };
    pc.ontrack = (event) => {
      call.remoteStream.addTrack(event.track);
      call.dispatchEvent(new CustomEvent("remotestream", { detail: { track: event.track } }));
    };
    pc.onconnectionstatechange = () => {
      const state = pc.connectionState;
      if (state === "connected") call._setState("active");
      else if (state === "failed") {
        const signalled = call.signalling && this.state === "online";
        this._finish(call, "failed");
        if (signalled) this._command({ type: "call_end", call_id: call.id, reason: "failed" }).catch(() => {});
      }
    };
    // no `negotiationneeded` handler: no renegotiation (see the module comment), the media
    // are fixed when the call starts
    for (const track of call.localStream?.getTracks() ?? []) {
      pc.addTrack(track, /** @type {MediaStream} */ (call.localStream));
    }
    return pc;
  }

  /** @param {Call} call @param {CandidateJson | null} candidate */
  _sendCandidate(call, candidate) {
    if (!call.signalling || this.state !== "online" || call.state === "ended") return;
    this._send({ type: "ice_candidate", call_id: call.id, candidate });
  }

  /** Our offer/answer is out: now the candidates may follow. @param {Call} call */
  _flushLocalCandidates(call) {
    const queued = call._localCandidates ?? [];
    call._localCandidates = null;
    for (const candidate of queued) this._sendCandidate(call, candidate);
  }

  /** @param {Call} call */
  async _flushRemoteCandidates(call) {
    call._remoteDescribed = true;
    const queued = call._remoteCandidates;
    call._remoteCandidates = [];
    for (const candidate of queued) await this._addCandidate(call, candidate);
  }

  /** @param {Call} call @param {CandidateJson} candidate */
  async _addCandidate(call, candidate) {
    if (call.pc === null || call.state === "ended") return;
    try {
      await call.pc.addIceCandidate(candidate);
    } catch (error) {
      console.warn("xmpp-video: a remote ICE candidate was refused", candidate, error);
    }
  }

  /** The callee accepted: offer. @param {Call} call */
  async _offer(call) {
    const pc = this._peerConnection(call);
    await pc.setLocalDescription(await pc.createOffer());
    if (call.state === "ended" || pc.localDescription === null) return;
    await this._command({ type: "sdp_offer", call_id: call.id, sdp: pc.localDescription.sdp });
    this._flushLocalCandidates(call);
  }

  /** The caller's offer: answer. @param {Call} call @param {string} sdp */
  async _answerOffer(call, sdp) {
    const pc = call.pc ?? this._peerConnection(call);
    await pc.setRemoteDescription({ type: "offer", sdp });
    await this._flushRemoteCandidates(call);
    await pc.setLocalDescription(await pc.createAnswer());
    if (call.state === "ended" || pc.localDescription === null) return;
    await this._command({ type: "sdp_answer", call_id: call.id, sdp: pc.localDescription.sdp });
    this._flushLocalCandidates(call);
  }

  /** @param {Call} call @param {string} sdp */
  async _applyAnswer(call, sdp) {
    if (call.pc === null) return;
    await call.pc.setRemoteDescription({ type: "answer", sdp });
    await this._flushRemoteCandidates(call);
  }

  /** Run a step of a call's negotiation; a failure ends the call. @param {Call} call @param {() => Promise<void>} step */
  _negotiate(call, step) {
    step().catch((error) => {
      if (call.state === "ended") return;
      console.error("xmpp-video: call", call.id, "failed to negotiate", error);
      const signalled = call.signalling && this.state === "online";
      this._finish(call, "failed");
      if (signalled) this._command({ type: "call_end", call_id: call.id, reason: "failed" }).catch(() => {});
    });
  }

  // -- server messages --------------------------------------------------------------------

  /** @param {ServerMessage} message */
  _received(message) {
    for (const pending of [...this._pending]) {
      if (pending.match(message)) {
        this._pending.delete(pending);
        clearTimeout(pending.timer);
        if (message.type === "error") {
          pending.reject(new XmppVideoError(message.code, message.message));
        } else {
          pending.resolve(message);
        }
      }
    }
    this._handle(message);
    this.dispatchEvent(new CustomEvent(message.type, { detail: message }));
    this.dispatchEvent(new CustomEvent("message", { detail: message }));
  }

  /** What each message does to the calls. @param {ServerMessage} message */
  _handle(message) {
    switch (message.type) {
      case "call_incoming": {
        if (this.calls.has(message.call_id)) return;
        const call = new Call(this, message.call_id, message.from, "incoming", message.call_type);
        this._add(call);
        return;
      }
      case "call_ringing": {
        const call = this.calls.get(message.call_id);
        if (call?.state === "calling") call._setState("ringing");
        return;
      }
      case "call_accepted": {
        const call = this.calls.get(message.call_id);
        if (call === undefined || call.direction !== "outgoing") return;
        call._setState("connecting");
        this._negotiate(call, () => this._offer(call));
        return;
      }
      case "sdp_offer": {
        const call = this.calls.get(message.call_id);
        if (call === undefined || call.direction !== "incoming") return;
        this._negotiate(call, () => this._answerOffer(call, message.sdp));
        return;
      }
      case "sdp_answer": {
        const call = this.calls.get(message.call_id);
        if (call === undefined || call.direction !== "outgoing") return;
        this._negotiate(call, () => this._applyAnswer(call, message.sdp));
        return;
      }
      case "ice_candidate": {
        const call = this.calls.get(message.call_id);
        if (call === undefined || message.candidate === null) return;
        if (call._remoteDescribed) this._addCandidate(call, message.candidate);
        else call._remoteCandidates.push(message.candidate);
        return;
      }
      case "call_rejected":
      case "call_ended": {
        const call = this.calls.get(message.call_id);
        if (call !== undefined) this._finish(call, message.reason);
        return;
      }
      case "server_shutdown":
        return; // the close follows; reconnection handles it
      default:
        return;
    }
  }

  /** @param {Call} call */
  _add(call) {
    this.calls.set(call.id, call);
    this.dispatchEvent(new CustomEvent("call", { detail: call }));
  }

  /** @param {Call} call @param {string} reason @param {boolean} [local] */
  _finish(call, reason, local = false) {
    this.calls.delete(call.id);
    call._end(reason, local);
  }

  /** @param {Call | string} callOrId */
  _find(callOrId) {
    const call = typeof callOrId === "string" ? this.calls.get(callOrId) : callOrId;
    if (call === undefined || call.state === "ended") {
      throw new XmppVideoError("unknown_call", "no such call on this device");
    }
    return call;
  }

  // -- the WebSocket ----------------------------------------------------------------------

  /**
   * Open the WebSocket and authenticate with the current access token.
   * @param {ClientState} state the state to show meanwhile
   * @returns {Promise<{user: string, jid: string}>}
   */
  _connect(state) {
    this._closeSocket();
    this._setState(state);
    const token = this._accessToken;
    return new Promise((resolve, reject) => {
      let settled = false;
      /** @param {Error} error */
      const fail = (error) => {
        if (settled) return;
        settled = true;
        reject(error);
      };
      let ws;
      try {
        ws = new WebSocket(this.websocketUrl);
      } catch (error) {
        fail(new XmppVideoError("network", `cannot open ${this.websocketUrl}: ${String(error)}`));
        return;
      }
      this._ws = ws;
      const timer = setTimeout(() => {
        fail(new XmppVideoError("timeout", "the server did not answer in time"));
        ws.close();
      }, this.requestTimeout);
      ws.onopen = () => {
        ws.send(JSON.stringify({ type: "auth", token, id: "auth" }));
      };
      ws.onmessage = (event) => {
        /** @type {ServerMessage} */
        let message;
        try {
          message = JSON.parse(String(event.data));
        } catch {
          return;
        }
        if (!settled && message.type === "auth_ok") {
          settled = true;
          clearTimeout(timer);
          this.user = message.user;
          this.jid = message.jid;
          this._attempts = 0;
          this._setState("online");
          this._startPings();
          resolve({ user: message.user, jid: message.jid });
        } else if (!settled && message.type === "auth_error") {
          clearTimeout(timer);
          fail(new XmppVideoError(message.code, message.message ?? "authentication failed", 401));
        }
        this._received(message);
      };
      ws.onclose = (event) => {
        clearTimeout(timer);
        fail(new XmppVideoError("network", `the connection closed (${event.code})`));
        if (this._ws === ws) this._dropped(event.code, event.reason);
      };
    });
  }

  /** The WebSocket is gone without our asking. @param {number} code @param {string} reason */
  _dropped(code, reason) {
    this._ws = null;
    this._stopPings();
    this._outbox = [];
    for (const pending of [...this._pending]) {
      this._pending.delete(pending);
      clearTimeout(pending.timer);
      pending.reject(new XmppVideoError("not_connected", "the connection to the server was lost"));
    }
    for (const call of [...this.calls.values()]) {
      call.signalling = false;
      if (call.state !== "active") this._finish(call, "connection_lost");
    }
    if (this.state === "signed_out" || this.state === "reconnecting") {
      return; // a failed attempt to reconnect: `_reconnect` schedules the next one
    }
    if (this.state === "connecting") {
      this._signOut("disconnected"); // the first connection failed: `login` rejects
      return;
    }
    const willReconnect = this.autoReconnect && this.tokenStore.getItem(STORE_KEY) !== null;
    this.dispatchEvent(new CustomEvent("disconnected", { detail: { code, reason, willReconnect } }));
    if (!willReconnect) {
      this._signOut("disconnected");
      return;
    }
    this._setState("reconnecting");
    globalThis.addEventListener?.("online", this._onOnline);
    this._reconnectSoon(code === CLOSE_UNAUTHORIZED ? 0 : undefined);
  }

  /** @param {number} [delay] ms; default: backoff */
  _reconnectSoon(delay) {
    if (this._reconnectTimer !== null) clearTimeout(this._reconnectTimer);
    const backoff = Math.min(30000, 500 * 2 ** this._attempts) * (0.75 + Math.random() / 2);
    this._attempts += 1;
    this._reconnectTimer = setTimeout(() => {
      this._reconnectTimer = null;
      this._reconnect();
    }, delay ?? backoff);
  }

  async _reconnect() {
    if (this.state !== "reconnecting") return;
    try {
      await this._refresh();
      await this._connect("reconnecting");
    } catch (error) {
      if (this.state !== "reconnecting") return;
      if (error instanceof XmppVideoError && error.status === 401) {
        this._signOut("session_expired");
        return;
      }
      this._reconnectSoon();
      return;
    }
    globalThis.removeEventListener?.("online", this._onOnline);
    this.dispatchEvent(new CustomEvent("reconnected", { detail: { jid: this.jid } }));
  }

  /** @param {string} reason */
  _signOut(reason) {
    const wasSignedIn = this.state === "online" || this.state === "reconnecting";
    for (const call of [...this.calls.values()]) {
      if (call.signalling && this.state === "online") this._send({ type: "call_end", call_id: call.id });
      this._finish(call, reason === "logout" ? "hangup" : "connection_lost", reason === "logout");
    }
    this._setState("signed_out");
    this._closeSocket();
    if (this._reconnectTimer !== null) clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    globalThis.removeEventListener?.("online", this._onOnline);
    this.tokenStore.removeItem(STORE_KEY);
    this._accessToken = null;
    this._turn = null;
    this.user = "";
    this.jid = "";
    if (wasSignedIn) this.dispatchEvent(new CustomEvent("signedout", { detail: { reason } }));
  }

  _closeSocket() {
    const ws = this._ws;
    this._ws = null;
    this._stopPings();
    if (ws !== null) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.close(1000);
    }
  }

  /** @param {ClientState} state */
  _setState(state) {
    if (this.state === state) return;
    const previous = this.state;
    this.state = state;
    this.dispatchEvent(new CustomEvent("statechange", { detail: { state, previous } }));
  }

  _startPings() {
    this._stopPings();
    if (this.pingInterval <= 0) return;
    this._pingTimer = setInterval(() => {
      const ws = this._ws;
      this.ping().catch(() => {
        // no pong in time: the connection is dead even if the browser has not noticed
        if (ws !== null && this._ws === ws) {
          ws.onclose = null;
          ws.close();
          this._dropped(1006, "no answer to ping");
        }
      });
    }, this.pingInterval);
  }

  _stopPings() {
    if (this._pingTimer !== null) clearInterval(this._pingTimer);
    this._pingTimer = null;
  }

  _requireOnline() {
    if (this.state !== "online") {
      throw new XmppVideoError("not_connected", "not connected to the server");
    }
  }

  /** Queue one message; at most `maxMessagesPerSecond` leave in any second. @param {object} message */
  _send(message) {
    this._outbox.push(JSON.stringify(message));
    this._pump();
  }

  _pump() {
    if (this._pumpTimer !== null) return;
    const now = performance.now();
    this._sentAt = this._sentAt.filter((t) => now - t < 1000);
    while (this._outbox.length > 0 && this._sentAt.length < this.maxMessagesPerSecond) {
      const ws = this._ws;
      const text = /** @type {string} */ (this._outbox.shift());
      if (ws === null || ws.readyState !== WebSocket.OPEN) continue;
      ws.send(text);
      this._sentAt.push(now);
    }
    if (this._outbox.length > 0) {
      const wait = 1000 - (now - this._sentAt[0]) + 1;
      this._pumpTimer = setTimeout(() => {
        this._pumpTimer = null;
        this._pump();
      }, wait);
    }
  }

  /**
   * Wait for the server's answer to messages sent with these ids.
   * @param {(reply: ServerMessage) => boolean} match
   * @param {string} what for the timeout's message
   * @returns {Promise<ServerMessage>}
   */
  _expect(match, what) {
    return new Promise((resolve, reject) => {
      /** @type {Pending<ServerMessage>} */
      const pending = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this._pending.delete(pending);
          reject(new XmppVideoError("timeout", `no answer to ${what} in time`));
        }, this.requestTimeout),
        match,
      };
      this._pending.add(pending);
    });
  }

  /**
   * Send a message with an `id`; settle on the first message `until` accepts that carries it
   * back as `ref`, or on an `error` with that `ref`.
   * @param {Record<string, unknown>} message
   * @param {(message: ServerMessage) => boolean} until
   * @returns {Promise<ServerMessage>}
   */
  _request(message, until) {
    this._requireOnline();
    const id = `c${this._nextId++}`;
    const answer = this._expect(
      (reply) => "ref" in reply && reply.ref === id && (reply.type === "error" || until(reply)),
      String(message.type)
    );
    this._send({ ...message, id });
    return answer;
  }

  /**
   * A command the server does not answer when it succeeds: its errors come back with its `ref`,
   * and the `pong` of a `ping` sent right after confirms it (the server handles the messages of
   * one connection in order).
   * @param {Record<string, unknown>} message
   * @returns {Promise<void>}
   */
  async _command(message) {
    this._requireOnline();
    const id = `c${this._nextId++}`;
    const check = `c${this._nextId++}`;
    const answer = this._expect(
      (reply) =>
        "ref" in reply &&
        ((reply.ref === id && reply.type === "error") ||
          (reply.ref === check && (reply.type === "pong" || reply.type === "error"))),
      String(message.type)
    );
    this._send({ ...message, id });
    this._send({ type: "ping", id: check });
    await answer;
  }

  /** @param {TokenAnswer} answer */
  _tokens(answer) {
    this._accessToken = answer.access_token;
    this.tokenStore.setItem(STORE_KEY, answer.refresh_token);
  }

  /** A new access token (and a rotated refresh token); one at a time. */
  _refresh() {
    if (this._refreshing === null) {
      const token = this.tokenStore.getItem(STORE_KEY);
      this._refreshing = (async () => {
        try {
          if (token === null) throw new XmppVideoError("invalid_token", "not signed in", 401);
          const answer = /** @type {TokenAnswer} */ (
            await this._post("/api/auth/token", { refresh_token: token })
          );
          this._tokens(answer);
          return answer;
        } finally {
          this._refreshing = null;
        }
      })();
    }
    return this._refreshing;
  }

  // -- HTTP -------------------------------------------------------------------------------

  /** @param {string} path @param {object} body @returns {Promise<unknown>} */
  _post(path, body) {
    return this._http(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  /** @param {string} path @returns {Promise<unknown>} */
  async _get(path) {
    try {
      return await this._http(path, { headers: this._bearer() });
    } catch (error) {
      if (!(error instanceof XmppVideoError) || error.status !== 401) throw error;
      await this._refresh(); // the access token expired: once more with a new one
      return this._http(path, { headers: this._bearer() });
    }
  }

  /** @returns {Record<string, string>} */
  _bearer() {
    return this._accessToken === null ? {} : { authorization: `Bearer ${this._accessToken}` };
  }

  /** @param {string} path @param {RequestInit} init @returns {Promise<unknown>} */
  async _http(path, init) {
    /** @type {Response} */
    let response;
    try {
      response = await fetch(this.server + path, { ...init, cache: "no-store" });
    } catch (error) {
      throw new XmppVideoError("network", `the server cannot be reached (${String(error)})`);
    }
    /** @type {any} */
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) {
      const code = typeof body?.error === "string" ? body.error : `http_${response.status}`;
      let text = typeof body?.message === "string" ? body.message : response.statusText;
      const retry = response.headers.get("retry-after");
      if (retry !== null) text = `${text} (retry after ${retry} s)`;
      const error = new XmppVideoError(code, text, response.status);
      error.retryAfter = retry === null ? null : Number(retry);
      throw error;
    }
    return body;
  }
}
