/**
 * A WebSocket that reconnects with capped, jittered exponential backoff, and a rev tracker that drops stale or
 * repeated job updates. The server sends each change once with a growing per-job `rev`; after a reconnect the
 * caller refetches what it shows (`onOpen(true)`), so nothing missed while offline is lost.
 */
import { parseMessage, type WebSocketMessage } from "../api/messages";

export type ConnectionStatus = "connecting" | "open" | "reconnecting" | "closed";

export interface LiveSocketOptions {
  url: string;
  /** Each message the server sends (frames that are not one are dropped): narrow on its `type`. */
  onMessage: (message: WebSocketMessage) => void;
  onStatus?: (status: ConnectionStatus) => void;
  /** Called on every open; `reconnected` is true after a drop: refetch what is shown, updates were missed. */
  onOpen?: (reconnected: boolean) => void;
  /** Called when the server refuses the stream (close code 1008: the session or token is no longer valid). */
  onDenied?: () => void;
  /** Reconnect when nothing (not even the server's ping) arrived for this long: the connection is dead. */
  idleTimeoutMs?: number;
  /** For tests: the WebSocket constructor and the timer functions. */
  createSocket?: (url: string) => WebSocket;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  random?: () => number;
}

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;
/** The server pings every 25 s when idle: over a minute of silence means a dead connection (a laptop that slept). */
const IDLE_TIMEOUT_MS = 60_000;
const POLICY_VIOLATION = 1008;

/** The wait before reconnect attempt `attempt` (0-based): doubling from 0.5 s, capped at 30 s, with +-20% jitter. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.min(attempt, 16));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** The ws:// or wss:// URL of a path on the page's own origin. */
export function socketUrl(path: string, location: Pick<Location, "protocol" | "host"> = window.location): string {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${path}`;
}

export class LiveSocket {
  private socket: WebSocket | null = null;
  private timer: unknown = null;
  private attempt = 0;
  private everOpened = false;
  private stopped = false;
  private watchdog: unknown = null;
  private readonly options: Required<Omit<LiveSocketOptions, "onStatus" | "onOpen" | "onDenied">> &
    Pick<LiveSocketOptions, "onStatus" | "onOpen" | "onDenied">;

  constructor(options: LiveSocketOptions) {
    this.options = {
      createSocket: (url) => new WebSocket(url),
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
      random: Math.random,
      idleTimeoutMs: IDLE_TIMEOUT_MS,
      ...options,
    };
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.options.clearTimer(this.timer);
    this.timer = null;
    this.clearWatchdog();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.onmessage = null;
      socket.onerror = null;
      socket.onopen = null;
      socket.close();
    }
    this.options.onStatus?.("closed");
  }

  private connect(): void {
    this.options.onStatus?.(this.everOpened || this.attempt > 0 ? "reconnecting" : "connecting");
    const socket = this.options.createSocket(this.options.url);
    this.socket = socket;
    socket.onopen = () => {
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      this.armWatchdog(socket);
      this.options.onStatus?.("open");
      this.options.onOpen?.(reconnected);
    };
    socket.onmessage = (event: MessageEvent) => {
      this.armWatchdog(socket);
      const message = parseMessage(String(event.data));
      if (message) this.options.onMessage(message); // anything else is not from the portal
    };
    socket.onclose = (event?: CloseEvent) => {
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      this.clearWatchdog();
      if (event?.code === POLICY_VIOLATION) this.options.onDenied?.();
      this.scheduleReconnect();
    };
  }

  private armWatchdog(socket: WebSocket): void {
    this.clearWatchdog();
    this.watchdog = this.options.setTimer(() => {
      this.watchdog = null;
      if (this.socket !== socket) return;
      // Silent for too long: drop it and reconnect (onclose may never come for a half-open connection).
      this.socket = null;
      socket.onclose = null;
      socket.close();
      this.scheduleReconnect();
    }, this.options.idleTimeoutMs);
  }

  private clearWatchdog(): void {
    if (this.watchdog !== null) this.options.clearTimer(this.watchdog);
    this.watchdog = null;
  }

  private scheduleReconnect(): void {
    const delay = backoffDelay(this.attempt, this.options.random);
    this.attempt += 1;
    this.options.onStatus?.("reconnecting");
    this.timer = this.options.setTimer(() => {
      this.timer = null;
      if (!this.stopped) this.connect();
    }, delay);
  }
}

/** Remembers the highest `rev` seen per job and accepts only newer ones (the server may resend after reconnects). */
export class RevTracker {
  private readonly revs = new Map<number, number>();

  /** True when `rev` is newer than what is held for `jobId` (and then it is held). */
  accept(jobId: number, rev: number): boolean {
    const held = this.revs.get(jobId);
    if (held !== undefined && rev <= held) return false;
    this.revs.set(jobId, rev);
    return true;
  }
}
