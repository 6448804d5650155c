// @ts-check
/**
 * The call page served at `/` (index.html): sign in, call someone, answer or decline, mute,
 * camera, hang up — a thin layer over xmpp-video.js.
 *
 * URL parameters: `?relay=1` makes every call TURN-only (`iceTransportPolicy: "relay"`).
 * The refresh token lives in `sessionStorage`, so a reload of the tab stays signed in.
 * `window.xmppVideo` exposes the client and the current call for the browser console.
 */
import { XmppVideoClient, XmppVideoError } from "./xmpp-video.js";

/** @typedef {import("./xmpp-video.js").Call} Call */

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
function element(id, type) {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`the page has no #${id}`);
  return found;
}

const ui = {
  connection: element("connection", HTMLElement),
  notice: element("notice", HTMLElement),
  info: element("info", HTMLElement),
  signin: element("signin", HTMLElement),
  signinForm: element("signin-form", HTMLFormElement),
  username: element("username", HTMLInputElement),
  password: element("password", HTMLInputElement),
  signinButton: element("signin-button", HTMLButtonElement),
  dial: element("dial", HTMLElement),
  me: element("me", HTMLElement),
  signout: element("signout", HTMLButtonElement),
  dialForm: element("dial-form", HTMLFormElement),
  callee: element("callee", HTMLInputElement),
  videoCall: element("video-call", HTMLButtonElement),
  audioCall: element("audio-call", HTMLButtonElement),
  incoming: element("incoming", HTMLElement),
  caller: element("caller", HTMLElement),
  incomingType: element("incoming-type", HTMLElement),
  answer: element("answer", HTMLButtonElement),
  decline: element("decline", HTMLButtonElement),
  call: element("call", HTMLElement),
  callPeer: element("call-peer", HTMLElement),
  callState: element("call-state", HTMLElement),
  callDuration: element("call-duration", HTMLTimeElement),
  remoteVideo: element("remote-video", HTMLVideoElement),
  localVideo: element("local-video", HTMLVideoElement),
  audioOnly: element("audio-only", HTMLElement),
  mute: element("mute", HTMLButtonElement),
  camera: element("camera", HTMLButtonElement),
  hangup: element("hangup", HTMLButtonElement),
};

const params = new URLSearchParams(location.search);
const relay = params.get("relay") === "1";
const client = new XmppVideoClient({
  iceTransportPolicy: relay ? "relay" : "all",
  tokenStore: sessionStorage,
});

/** @type {Call | null} the call shown (outgoing, answered or being answered) */
let current = null;
/** @type {Call | null} the call ringing here, not answered yet */
let ringing = null;
/** @type {ReturnType<typeof setInterval> | null} */
let ticker = null;

// for the browser console (and the page's tests)
Object.assign(window, {
  xmppVideo: {
    client,
    get call() {
      return current;
    },
    get ringing() {
      return ringing;
    },
  },
});

// -- messages -----------------------------------------------------------------------------

/** @param {string} text */
function showError(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = false;
  ui.info.textContent = "";
}

/** @param {string} text */
function showInfo(text) {
  ui.info.textContent = text;
}

function clearMessages() {
  ui.notice.hidden = true;
  ui.notice.textContent = "";
  ui.info.textContent = "";
}

/** A user's name as shown: the local part for this server's users. @param {string} jid */
function displayName(jid) {
  const [local, domain] = jid.split("@");
  const own = client.jid.split("@")[1];
  return domain === undefined || domain === own ? local : jid;
}

/** @param {unknown} error @param {string} [to] @returns {string} */
function describeError(error, to = "") {
  if (!(error instanceof XmppVideoError)) return `Something went wrong: ${String(error)}`;
  switch (error.code) {
    case "invalid_credentials":
      return "Wrong user name or password.";
    case "rate_limited":
      return error.retryAfter !== null
        ? `Too many attempts. Try again in ${error.retryAfter} seconds.`
        : "Too many attempts. Wait a moment and try again.";
    case "network":
      return "The server cannot be reached. Check your network connection and try again.";
    case "user_unavailable":
      return `${to} is not a user on this server. Check the name and try again.`;
    case "bad_request":
      return `“${to}” is not a valid user name. Use a name such as bob or bob@example.org.`;
    case "not_allowed":
      return `${error.message.charAt(0).toUpperCase()}${error.message.slice(1)}.`;
    case "media_denied":
      return "Camera or microphone access was denied. Allow it for this site and try again.";
    case "media_unavailable":
      return error.message.startsWith("this browser")
        ? "This browser gives no camera or microphone here: open the page over https (or on localhost)."
        : "No microphone was found.";
    case "media_error":
      return "The camera or microphone could not be started.";
    case "no_turn":
      return "Relay-only calls (?relay=1) need a TURN server, and this server has none configured.";
    case "not_connected":
      return "Not connected to the server. Reconnecting…";
    case "timeout":
      return "The server did not answer in time. Try again.";
    default:
      return error.message;
  }
}

/**
 * What to tell when a call ended, and whether it is bad news.
 * @param {Call} call
 * @returns {{text: string, error: boolean}}
 */
function describeEnd(call) {
  const peer = displayName(call.peer);
  const outgoing = call.direction === "outgoing";
  const answered = call.startedAt !== null;
  switch (call.endReason) {
    case "hangup":
      if (call.endedLocally) {
        return { text: answered || !outgoing ? "Call ended." : "Call cancelled.", error: false };
      }
      return { text: `${peer} hung up.`, error: false };
    case "decline":
      if (call.endedLocally) return { text: `You declined the call from ${peer}.`, error: false };
      return { text: `${peer} declined the call.`, error: true };
    case "busy":
      if (call.endedLocally) return { text: `Missed call from ${peer} (you were busy).`, error: false };
      return { text: `${peer} is busy. Try again later.`, error: true };
    case "timeout":
      return outgoing
        ? { text: `${peer} did not answer.`, error: true }
        : { text: `Missed call from ${peer}.`, error: false };
    case "unavailable":
      return { text: `${peer} is not available right now (no device is online).`, error: true };
    case "cancelled":
      return { text: `Missed call from ${peer}.`, error: false };
    case "answered_elsewhere":
      return { text: "The call was answered on another of your devices.", error: false };
    case "rejected_elsewhere":
      return { text: "The call was declined on another of your devices.", error: false };
    case "failed":
      return {
        text: "The call failed: no media connection could be made (blocked network, or no TURN server?).",
        error: true,
      };
    case "connection_lost":
      return { text: "The call was lost: the connection to the server dropped.", error: true };
    case "media_error":
      return { text: "The call could not start: the camera or microphone failed.", error: true };
    case "terminated_by_admin":
      return { text: "An administrator ended the call.", error: true };
    case "server_shutdown":
      return { text: "The call ended: the server is restarting.", error: true };
    default:
      return { text: `The call ended (${call.endReason}).`, error: false };
  }
}

// -- views --------------------------------------------------------------------------------

const STATE_LABELS = {
  signed_out: "Signed out",
  connecting: "Connecting…",
  online: "Online",
  reconnecting: "Reconnecting…",
};

function render() {
  const state = client.state;
  ui.connection.dataset.state = state;
  ui.connection.textContent = STATE_LABELS[state];
  const signedIn = state !== "signed_out";
  ui.signin.hidden = signedIn;
  ui.me.textContent = client.jid;
  ui.incoming.hidden = ringing === null;
  ui.call.hidden = current === null;
  ui.dial.hidden = !signedIn || current !== null || ringing !== null;
  const canDial = state === "online" && current === null;
  ui.videoCall.disabled = !canDial;
  ui.audioCall.disabled = !canDial;
  if (ringing !== null) {
    ui.caller.textContent = displayName(ringing.peer);
    ui.incomingType.textContent = ringing.type === "video" ? "video call" : "audio call";
  }
  document.title = ringing !== null ? `Incoming call — xmpp-video` : "xmpp-video";
  renderCall();
}

const CALL_STATE_LABELS = {
  calling: "Calling…",
  ringing: "Ringing…",
  incoming: "Answering…",
  connecting: "Connecting…",
  active: "In call",
  ended: "Call ended",
};

function renderCall() {
  const call = current;
  if (call === null) return;
  ui.call.dataset.state = call.state;
  ui.callPeer.textContent = displayName(call.peer);
  ui.callState.textContent = CALL_STATE_LABELS[call.state];
  const seconds = call.duration;
  ui.callDuration.textContent =
    call.state === "active"
      ? `${String(Math.floor(seconds / 60)).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`
      : "";
  ui.callDuration.dateTime = `PT${seconds}S`;
  const video = call.type === "video" && (call.localStream?.getVideoTracks().length ?? 0) > 0;
  ui.camera.hidden = !video;
  ui.localVideo.hidden = !video;
  ui.audioOnly.hidden = call.type === "video";
  ui.audioOnly.textContent = displayName(call.peer).charAt(0).toUpperCase();
  ui.remoteVideo.classList.toggle("audio", call.type !== "video");
  ui.mute.setAttribute("aria-pressed", String(call.muted));
  ui.mute.textContent = call.muted ? "Unmute" : "Mute";
  ui.camera.setAttribute("aria-pressed", String(call.cameraOff));
  ui.camera.textContent = call.cameraOff ? "Camera on" : "Camera off";
  ui.hangup.textContent = call.state === "active" || call.direction === "incoming" ? "Hang up" : "Cancel";
}

/** Show a call in the call view. @param {Call} call */
function show(call) {
  current = call;
  clearMessages();
  ui.remoteVideo.srcObject = call.remoteStream;
  ui.localVideo.srcObject = call.localStream;
  call.addEventListener("localstream", () => {
    ui.localVideo.srcObject = call.localStream;
    renderCall();
  });
  call.addEventListener("statechange", () => {
    if (call.state === "active" && ticker === null) ticker = setInterval(renderCall, 1000);
    renderCall();
  });
  render();
  ui.hangup.focus();
}

/** The shown call ended. @param {Call} call */
function ended(call) {
  const { text, error } = describeEnd(call);
  if (call === ringing) ringing = null;
  if (call === current) {
    current = null;
    if (ticker !== null) clearInterval(ticker);
    ticker = null;
    ui.remoteVideo.srcObject = null;
    ui.localVideo.srcObject = null;
  }
  stopRing();
  if (error) showError(text);
  else showInfo(text);
  render();
  if (current === null && ringing === null && client.state !== "signed_out") ui.callee.focus();
}

// -- ring tone (Web Audio; nothing to download) --------------------------------------------

/** @type {AudioContext | null} */
let audio = null;
/** @type {ReturnType<typeof setInterval> | null} */
let ringTimer = null;

function startRing() {
  try {
    audio ??= new AudioContext();
    const context = audio;
    const beep = () => {
      const oscillator = context.createOscillator();
      const gain = context.createGain();
      oscillator.frequency.value = 440;
      gain.gain.setValueAtTime(0.08, context.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.0001, context.currentTime + 0.8);
      oscillator.connect(gain).connect(context.destination);
      oscillator.start();
      oscillator.stop(context.currentTime + 0.8);
    };
    beep();
    ringTimer = setInterval(beep, 2000);
  } catch {
    // no audio output: the page still shows the call
  }
}

function stopRing() {
  if (ringTimer !== null) clearInterval(ringTimer);
  ringTimer = null;
}

// -- the client's events ------------------------------------------------------------------

client.addEventListener("statechange", render);

client.addEventListener("call", (event) => {
  const call = /** @type {CustomEvent<Call>} */ (event).detail;
  call.addEventListener("ended", () => ended(call));
  if (call.direction !== "incoming") return;
  if (current !== null || ringing !== null) {
    call.reject("busy").catch(() => {}); // one call at a time on this page
    return;
  }
  ringing = call;
  clearMessages();
  render();
  startRing();
  ui.answer.focus();
});

client.addEventListener("disconnected", () => {
  showError("Connection to the server lost. Reconnecting…");
});

client.addEventListener("reconnected", () => {
  clearMessages();
  showInfo("Reconnected.");
});

client.addEventListener("server_shutdown", () => {
  showError("The server is restarting. Reconnecting…");
});

client.addEventListener("signedout", (event) => {
  const reason = /** @type {CustomEvent<{reason: string}>} */ (event).detail.reason;
  if (reason === "session_expired") showError("Your session expired. Sign in again.");
  else if (reason === "disconnected") showError("Connection to the server lost. Sign in again.");
  ringing = null;
  render();
  ui.username.focus();
});

client.addEventListener("error", (event) => {
  const message = /** @type {CustomEvent<{code: string, message: string, ref?: unknown}>} */ (event).detail;
  if (message.ref === undefined) showError(`The server refused a message: ${message.message}`);
});

// -- the page's controls ------------------------------------------------------------------

ui.signinForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearMessages();
  ui.signinButton.disabled = true;
  try {
    await client.login(ui.username.value.trim(), ui.password.value);
    ui.password.value = "";
    render();
    ui.callee.focus();
  } catch (error) {
    showError(describeError(error));
    ui.password.select();
  } finally {
    ui.signinButton.disabled = false;
  }
});

ui.signout.addEventListener("click", () => {
  client.logout();
  clearMessages();
  showInfo("Signed out.");
  ringing = null;
  current = null;
  render();
  ui.username.focus();
});

ui.dialForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const to = ui.callee.value.trim();
  const submitter = /** @type {SubmitEvent} */ (event).submitter;
  const video = submitter !== ui.audioCall;
  clearMessages();
  ui.videoCall.disabled = true;
  ui.audioCall.disabled = true;
  showInfo(`Calling ${to}…`);
  try {
    const call = await client.call(to, { video });
    show(call);
  } catch (error) {
    showError(describeError(error, to));
    render();
    ui.callee.focus();
  }
});

ui.answer.addEventListener("click", async () => {
  const call = ringing;
  if (call === null) return;
  ringing = null;
  stopRing();
  show(call);
  try {
    await call.answer();
  } catch (error) {
    if (!call.over) showError(describeError(error));
  }
});

ui.decline.addEventListener("click", async () => {
  const call = ringing;
  if (call === null) return;
  try {
    await call.reject("decline");
  } catch (error) {
    showError(describeError(error));
  }
});

ui.incoming.addEventListener("keydown", (event) => {
  if (event.key === "Escape") ui.decline.click();
});

ui.hangup.addEventListener("click", async () => {
  const call = current;
  if (call === null) return;
  try {
    await call.hangup();
  } catch (error) {
    if (!(error instanceof XmppVideoError && error.code === "not_connected")) {
      showError(describeError(error));
    }
  }
});

ui.mute.addEventListener("click", () => {
  current?.setMuted(!current.muted);
  renderCall();
});

ui.camera.addEventListener("click", () => {
  current?.setCameraOff(!current.cameraOff);
  renderCall();
});

// -- start --------------------------------------------------------------------------------

element("relay-mode", HTMLElement).hidden = !relay;
render();
client
  .resume()
  .then((session) => {
    if (session !== null) {
      render();
      ui.callee.focus();
    } else {
      ui.username.focus();
    }
  })
  .catch((error) => {
    showError(describeError(error));
    ui.username.focus();
  });
