import { describe, expect, it } from "vitest";
import type { DependencyEdge } from "../api/catalogAdmin";
import { around, columns, layout } from "./dependencyGraph";

const edge = (from: string, to: string, resolved: string | null = "1.0.0"): DependencyEdge => {
  const [item_id = "", version = ""] = from.split("@");
  return { from, item_id, version, to, range: "^1.0.0", resolved };
};

describe("the dependency map", () => {
  // app -> lib -> base, tool -> lib, other -> unrelated
  const edges = [
    edge("app@2.0.0", "lib"),
    edge("lib@1.0.0", "base"),
    edge("tool@1.0.0", "lib"),
    edge("other@1.0.0", "unrelated", null),
  ];

  it("keeps what an item needs and what needs it, transitively, and nothing else", () => {
    expect(around(edges, "lib").map((e) => e.from)).toEqual(["app@2.0.0", "lib@1.0.0", "tool@1.0.0"]);
    expect(around(edges, "app").map((e) => e.from)).toEqual(["app@2.0.0", "lib@1.0.0"]);
    expect(around(edges, "nobody")).toEqual([]);
  });

  it("puts each item one column after what it depends on, and survives a circle", () => {
    const depth = columns(edges, ["app", "lib", "base", "tool"]);
    expect([depth.get("base"), depth.get("lib"), depth.get("app"), depth.get("tool")]).toEqual([0, 1, 2, 2]);
    const circle = columns([edge("a@1.0.0", "b"), edge("b@1.0.0", "a")], ["a", "b"]);
    expect(circle.size).toBe(2);
  });

  it("lists each item's versions, a missing target without one", () => {
    const { boxes } = layout(edges);
    expect(boxes.get("lib")?.versions).toEqual(["1.0.0"]);
    expect(boxes.get("unrelated")?.versions).toEqual([]);
    expect(boxes.get("app")?.x).toBeGreaterThan(boxes.get("lib")?.x ?? Infinity);
  });
});
