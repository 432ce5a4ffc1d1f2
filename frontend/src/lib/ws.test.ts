import { describe, expect, it, vi } from "vitest";
import { backoffDelay, LiveSocket, RevTracker, socketUrl, type ConnectionStatus } from "./ws";

class FakeSocket {
  onopen: (() => void) | null = null;
  onclose: ((event?: { code: number }) => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  closed = false;
  constructor(readonly url: string) {}
  close() {
    this.closed = true;
  }
}

function harness() {
  const sockets: FakeSocket[] = [];
  const timers: { fn: () => void; ms: number; cleared: boolean }[] = [];
  const onDenied = vi.fn();
  const messages: unknown[] = [];
  const statuses: ConnectionStatus[] = [];
  const onOpen = vi.fn();
  const live = new LiveSocket({
    url: "ws://portal/ws/jobs",
    onMessage: (m) => messages.push(m),
    onStatus: (s) => statuses.push(s),
    onOpen,
    onDenied,
    idleTimeoutMs: 60_000,
    createSocket: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket as unknown as WebSocket;
    },
    setTimer: (fn, ms) => {
      const timer = { fn, ms, cleared: false };
      timers.push(timer);
      return timer;
    },
    clearTimer: (timer) => {
      (timer as { cleared: boolean }).cleared = true;
    },
    random: () => 0.5,
  });
  const reconnects = () => timers.filter((t) => t.ms !== 60_000);
  return { live, sockets, timers, reconnects, messages, statuses, onOpen, onDenied };
}

describe("backoffDelay", () => {
  it("doubles from half a second and caps at thirty seconds", () => {
    const mid = () => 0.5;
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, mid))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffDelay(20, mid)).toBe(30_000);
  });
  it("jitters within 20% either way", () => {
    expect(backoffDelay(2, () => 0)).toBe(1600);
    expect(backoffDelay(2, () => 1)).toBe(2400);
  });
});

describe("LiveSocket", () => {
  it("passes on the server's messages and drops frames that are not one", () => {
    const h = harness();
    h.live.start();
    h.sockets[0]!.onopen!();
    h.sockets[0]!.onmessage!({ data: '{"type":"ping"}' });
    h.sockets[0]!.onmessage!({ data: "not json" });
    h.sockets[0]!.onmessage!({ data: '{"type":"job.deleted","job_id":1}' });
    expect(h.messages).toEqual([{ type: "ping" }]);
    expect(h.statuses).toEqual(["connecting", "open"]);
  });

  it("reconnects with growing delays and asks for a refetch only after a reconnect", () => {
    const h = harness();
    h.live.start();
    h.sockets[0]!.onopen!();
    expect(h.onOpen.mock.calls).toEqual([[false]]);
    h.sockets[0]!.onclose!();
    expect(h.reconnects().map((t) => t.ms)).toEqual([500]);
    h.reconnects()[0]!.fn();
    h.sockets[1]!.onclose!(); // the server is still down
    expect(h.reconnects().map((t) => t.ms)).toEqual([500, 1000]);
    h.reconnects()[1]!.fn();
    h.sockets[2]!.onopen!();
    expect(h.onOpen.mock.calls).toEqual([[false], [true]]);
    expect(h.statuses.at(-1)).toBe("open");
    h.sockets[2]!.onclose!(); // a successful open resets the backoff
    expect(h.reconnects().at(-1)!.ms).toBe(500);
  });

  it("stops for good: no reconnect after stop", () => {
    const h = harness();
    h.live.start();
    h.sockets[0]!.onopen!();
    const first = h.sockets[0]!;
    h.live.stop();
    expect(first.closed).toBe(true);
    expect(h.reconnects()).toEqual([]);
    expect(h.timers.every((t) => t.cleared)).toBe(true);
    expect(h.statuses.at(-1)).toBe("closed");
  });
});

describe("LiveSocket liveness", () => {
  it("drops a connection that went silent and reconnects", () => {
    const h = harness();
    h.live.start();
    h.sockets[0]!.onopen!();
    h.sockets[0]!.onmessage!({ data: '{"type":"ping"}' }); // each message re-arms the watchdog
    const watchdogs = h.timers.filter((t) => t.ms === 60_000);
    expect(watchdogs.length).toBe(2);
    expect(watchdogs[0]!.cleared).toBe(true);
    watchdogs[1]!.fn(); // a minute without anything
    expect(h.sockets[0]!.closed).toBe(true);
    expect(h.reconnects().map((t) => t.ms)).toEqual([500]);
  });

  it("reports a refused stream (1008) and keeps trying", () => {
    const h = harness();
    h.live.start();
    h.sockets[0]!.onopen!();
    h.sockets[0]!.onclose!({ code: 1008 });
    expect(h.onDenied).toHaveBeenCalledTimes(1);
    h.sockets[0]!.onclose!({ code: 1006 });
    expect(h.onDenied).toHaveBeenCalledTimes(1);
  });
});

describe("RevTracker", () => {
  it("accepts only newer revs per job", () => {
    const revs = new RevTracker();
    expect(revs.accept(1, 3)).toBe(true);
    expect(revs.accept(1, 3)).toBe(false);
    expect(revs.accept(1, 2)).toBe(false);
    expect(revs.accept(2, 1)).toBe(true);
    expect(revs.accept(1, 4)).toBe(true);
  });
});

describe("socketUrl", () => {
  it("follows the page's scheme", () => {
    expect(socketUrl("/ws/jobs", { protocol: "https:", host: "p.example" })).toBe("wss://p.example/ws/jobs");
    expect(socketUrl("/ws/jobs", { protocol: "http:", host: "localhost:8000" })).toBe("ws://localhost:8000/ws/jobs");
  });
});
