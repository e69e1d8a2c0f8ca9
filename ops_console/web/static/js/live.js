// The /ws client: token as a subprotocol, resume from the last alert seq after a reconnect.
import { refresh, session } from "./api.js";

export class Live {
  constructor({ channels, onMessage, onState }) {
    this.channels = new Set(channels);
    this.onMessage = onMessage;
    this.onState = onState;
    this.lastSeq = null;
    this.delay = 500;
    this.stopped = false;
  }

  start() { this.connect(); }

  stop() { this.stopped = true; if (this.socket) this.socket.close(1000); }

  subscribe(channels) {
    const fresh = channels.filter((c) => !this.channels.has(c));
    fresh.forEach((c) => this.channels.add(c));
    if (fresh.length && this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ op: "subscribe", channels: fresh }));
    }
  }

  connect() {
    const s = session();
    if (!s || this.stopped) return;
    this.onState("connecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws`, ["cityhub.v1", `bearer.${s.access_token}`]);
    this.socket = socket;
    socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    socket.onclose = async (event) => {
      if (this.stopped) return;
      this.onState("offline");
      // 4001: the token expired; a refused handshake shows as 1006 too.
      if (event.code === 4001 || event.code === 1006) await refresh();
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    };
  }

  receive(message) {
    if (message.type === "hello") {
      this.delay = 500;
      // The first connection starts from now; a reconnection resumes where it left off.
      const since = this.lastSeq ?? message.seq;
      if (this.lastSeq === null) this.lastSeq = message.seq;
      this.socket.send(JSON.stringify({ op: "subscribe", channels: [...this.channels], since_seq: since }));
      return;
    }
    if (message.type === "subscribed") this.onState("connected");
    if (message.type === "alert") {
      this.lastSeq = Math.max(this.lastSeq ?? 0, message.seq);
    }
    this.onMessage(message);
  }
}
