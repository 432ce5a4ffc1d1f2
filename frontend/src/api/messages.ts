/**
 * What the WebSocket streams send: the generated `WebSocketMessage` union (one server model per `type`), and the
 * check that turns a frame into one. A frame comes from the network, so it is trusted only once its `type` is one
 * the server sends and the fields the app reads have their types; then TypeScript narrows on `type`.
 */
import type { components } from "./schema";

type Schemas = components["schemas"];
export type WebSocketMessage = Schemas["WebSocketMessage"];
export type JobUpdatedMessage = Schemas["JobUpdatedMessage"];
export type JobLogMessage = Schemas["JobLogMessage"];
export type StreamedLogLine = Schemas["StreamedLogLine"];
export type SourcesUpdatedMessage = Schemas["SourcesUpdatedMessage"];
type MessageType = WebSocketMessage["type"];

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isInteger(value: unknown): value is number {
  return Number.isInteger(value);
}

function isLogLine(value: unknown): value is StreamedLogLine {
  return isObject(value) && isInteger(value.id) && typeof value.stream === "string" && typeof value.line === "string";
}

/** One check per type the server sends: a type added on the server fails to compile here until it has one. */
const CHECKS: { [T in MessageType]: (frame: Fields) => boolean } = {
  "job.updated": (frame) =>
    isInteger(frame.rev) &&
    isObject(frame.job) &&
    isInteger(frame.job.id) &&
    isInteger(frame.job.rev) &&
    typeof frame.job.state === "string" &&
    typeof frame.job.item_id === "string",
  "job.log": (frame) => isInteger(frame.job_id) && Array.isArray(frame.lines) && frame.lines.every(isLogLine),
  "sources.updated": (frame) => typeof frame.source_id === "string" && isObject(frame.status) && typeof frame.status.state === "string",
  ping: () => true,
};

function isMessageType(type: unknown): type is MessageType {
  return typeof type === "string" && Object.hasOwn(CHECKS, type);
}

/** Whether a decoded frame is one of the messages the server sends. */
export function isWebSocketMessage(value: unknown): value is WebSocketMessage {
  return isObject(value) && isMessageType(value.type) && CHECKS[value.type](value);
}

/** The message a frame's text carries, or null when it is not JSON or not a message the server sends. */
export function parseMessage(text: string): WebSocketMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  return isWebSocketMessage(value) ? value : null;
}
