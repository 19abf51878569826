// The websocket: resume from this tab's last seq, reconnect with backoff and jitter, ping.

const SEQ_KEY = "inbox.seq";
const PING_MS = 25_000;
const PONG_TIMEOUT_MS = 10_000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
// No session (4401) or a foreign origin (4403): retrying would not help.
const FATAL_CODES = new Set([4401, 4403]);

function storedSeq() {
  try {
    const value = Number(sessionStorage.getItem(SEQ_KEY));
    return Number.isSafeInteger(value) && value > 0 ? value : 0;
  } catch {
    return 0;
  }
}

// Events: "state" {state}, "ready" {seq, initial}, "resync" (reload everything), "event"
// (a frame, once per seq), "presence" (a presence.updated frame), "signed-out".
export class Realtime extends EventTarget {
  constructor(url = null) {
    super();
    this.url = url || `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    this.seq = storedSeq();
    this.socket = null;
    this.state = "connecting";
    this.attempt = 0;
    this.readyOnce = false;
    this.stopped = false;
    this.pingTimer = null;
    this.pongTimer = null;
    this.retryTimer = null;
    this.presence = { conversation_id: null, composing: false };
    window.addEventListener("online", () => this.reconnectNow());
    // A socket on a network that went away can look open for minutes.
    window.addEventListener("offline", () => this.abandon());
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.emit("state", { state });
  }

  connect() {
    this.stopped = false;
    clearTimeout(this.retryTimer);
    const socket = new WebSocket(this.url);
    this.socket = socket;
    this.setState("connecting");
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "hello", after: this.seq }));
    });
    socket.addEventListener("message", (message) => this.receive(socket, message.data));
    socket.addEventListener("close", (event) => this.closed(socket, event));
  }

  receive(socket, raw) {
    if (socket !== this.socket) return;
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    switch (frame.type) {
      case "ready":
        this.attempt = 0;
        this.remember(Math.max(this.seq, frame.seq));
        this.setState("live");
        this.startPings();
        this.sendPresence();
        this.emit("ready", { seq: frame.seq, initial: !this.readyOnce });
        this.readyOnce = true;
        break;
      case "resync":
        this.remember(frame.seq);
        this.emit("resync", { seq: frame.seq, reason: frame.reason });
        break;
      case "pong":
        clearTimeout(this.pongTimer);
        break;
      case "presence.updated":
        this.emit("presence", frame);
        break;
      case "error":
        break;
      default:
        if (typeof frame.seq !== "number" || frame.seq <= this.seq) return; // seen already
        this.remember(frame.seq);
        this.emit("event", frame);
    }
  }

  remember(seq) {
    this.seq = seq;
    try {
      sessionStorage.setItem(SEQ_KEY, String(seq));
    } catch {
      // No storage (private mode): resume from memory while the page lives.
    }
  }

  closed(socket, event) {
    if (socket !== this.socket) return;
    this.stopPings();
    this.socket = null;
    if (this.stopped) return;
    if (FATAL_CODES.has(event.code)) {
      this.setState("signed-out");
      this.emit("signed-out", { code: event.code });
      return;
    }
    this.retry();
  }

  abandon() {
    const socket = this.socket;
    if (!socket) return;
    this.socket = null;
    this.stopPings();
    socket.close(4000, "abandoned");
    this.retry();
  }

  retry() {
    this.setState("offline");
    clearTimeout(this.retryTimer);
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt++;
    const delay = base / 2 + Math.random() * (base / 2);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.stopped || this.socket) return;
    this.attempt = 0;
    this.connect();
  }

  startPings() {
    this.stopPings();
    this.pingTimer = setInterval(() => {
      if (this.socket?.readyState !== WebSocket.OPEN) return;
      this.socket.send(JSON.stringify({ type: "ping", nonce: String(Date.now()) }));
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => this.abandon(), PONG_TIMEOUT_MS);
    }, PING_MS);
  }

  stopPings() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }

  setPresence(conversationId, composing = false) {
    const next = { conversation_id: conversationId, composing: Boolean(composing) };
    if (
      next.conversation_id === this.presence.conversation_id &&
      next.composing === this.presence.composing
    ) {
      return;
    }
    this.presence = next;
    this.sendPresence();
  }

  sendPresence() {
    if (this.socket?.readyState !== WebSocket.OPEN || this.state !== "live") return;
    this.socket.send(JSON.stringify({ type: "presence", ...this.presence }));
  }
}
