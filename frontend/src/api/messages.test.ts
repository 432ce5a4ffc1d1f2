import { describe, expect, it } from "vitest";
import { isWebSocketMessage, parseMessage, type WebSocketMessage } from "./messages";

const job = {
  id: 7, rev: 3, kind: "catalog_execution", item_id: "noop", item_version: "1.0.0", state: "RUNNING", progress: 40,
  message: "", created_by: 1, created_by_name: "alice", created_at: "2026-01-01T00:00:00Z", queued_at: null,
  started_at: null, finished_at: null, updated_at: "2026-01-01T00:00:00Z", attempt: 1, retry_of: null,
  cancel_requested: false, worker: null, error_type: null, queue: "default", priority: 0,
};
const updated = { type: "job.updated", job, rev: 3 };
const logs = {
  type: "job.log", job_id: 7, created_by: 1, at: "2026-01-01T00:00:01Z",
  lines: [{ id: 11, stream: "stdout", line: "hello" }, { id: 12, stream: "stderr", line: "oops" }],
};

/** What a consumer does with a message: TypeScript narrows each branch by `type`, without casts. */
function describeMessage(message: WebSocketMessage): string {
  switch (message.type) {
    case "job.updated":
      return `job ${message.job.id} is ${message.job.state} at rev ${message.rev}`;
    case "job.log":
      return `${message.lines.length} lines of job ${message.job_id}`;
    case "sources.updated":
      return `source ${message.source_id} is ${message.status.state}`;
    case "ping":
      return "ping";
  }
}

describe("parseMessage", () => {
  it("reads each message the server sends and narrows on its type", () => {
    expect(describeMessage(parseMessage(JSON.stringify(updated))!)).toBe("job 7 is RUNNING at rev 3");
    expect(describeMessage(parseMessage(JSON.stringify(logs))!)).toBe("2 lines of job 7");
    expect(describeMessage(parseMessage('{"type":"ping"}')!)).toBe("ping");
    const sources = { type: "sources.updated", source_id: "platform", status: { state: "refreshing", summary: "" } };
    expect(describeMessage(parseMessage(JSON.stringify(sources))!)).toBe("source platform is refreshing");
    expect(isWebSocketMessage({ ...sources, status: null })).toBe(false);
  });

  it("drops frames that are not JSON or not a message of a known type", () => {
    expect(parseMessage("not json")).toBeNull();
    expect(parseMessage("[1,2]")).toBeNull();
    expect(parseMessage("null")).toBeNull();
    expect(parseMessage('{"job":{"id":1}}')).toBeNull();
    expect(parseMessage('{"type":"job.deleted","job_id":7}')).toBeNull();
    expect(parseMessage('{"type":"toString"}')).toBeNull();
  });

  it("drops messages whose fields the app reads are missing or of another type", () => {
    expect(isWebSocketMessage({ ...updated, rev: "3" })).toBe(false);
    expect(isWebSocketMessage({ ...updated, job: null })).toBe(false);
    expect(isWebSocketMessage({ ...updated, job: { ...job, id: 7.5 } })).toBe(false);
    expect(isWebSocketMessage({ ...logs, lines: "hello" })).toBe(false);
    expect(isWebSocketMessage({ ...logs, lines: [{ id: 11, stream: "stdout" }] })).toBe(false);
    expect(isWebSocketMessage({ ...logs, job_id: undefined })).toBe(false);
  });
});
