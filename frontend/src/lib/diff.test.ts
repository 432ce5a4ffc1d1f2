import { describe, expect, it } from "vitest";
import { diffValues } from "./diff";

describe("diffValues", () => {
  it("walks objects and marks each leaf", () => {
    const rows = diffValues(
      { role: "requester", profile: { name: "A", tags: ["x"] }, gone: 1 },
      { role: "operator", profile: { name: "A", tags: ["x", "y"] }, added: true },
    );
    expect(rows).toEqual([
      { path: "added", before: undefined, after: true, change: "added" },
      { path: "gone", before: 1, after: undefined, change: "removed" },
      { path: "profile.name", before: "A", after: "A", change: "same" },
      { path: "profile.tags", before: ["x"], after: ["x", "y"], change: "changed" },
      { path: "role", before: "requester", after: "operator", change: "changed" },
    ]);
  });
  it("treats a missing side as empty", () => {
    expect(diffValues(undefined, { a: 1 })).toEqual([{ path: "a", before: undefined, after: 1, change: "added" }]);
  });
});
