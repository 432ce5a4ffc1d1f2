import { describe, expect, it } from "vitest";
import {
  changeType,
  editableDocument,
  freeId,
  groupProblems,
  messagesAt,
  newSource,
  numberOrText,
  parseYaml,
  patchSource,
  pollText,
  sourceIndex,
  sourcesOf,
  stateBadge,
  toYaml,
  withSources,
} from "./sources";

const VIEW = {
  apiVersion: "portal/v1",
  kind: "CatalogSources",
  revision: 3,
  etag: '"abc"',
  author: "ada",
  created_at: "2026-12-01T10:00:00Z",
  message: "more",
  sources: [
    { id: "local", type: "folder", path: "/srv/catalog", poll_seconds: 0, development: false, enabled: true, status: { state: "available" } },
    { id: "platform", type: "git", url: "https://git.example.com/p.git", tags: "*@*", path: "items", credentials: { secret: "TOKEN" }, status: { state: "disabled" } },
  ],
};

describe("the document and its YAML", () => {
  it("leaves out what GET adds", () => {
    const doc = editableDocument(VIEW);
    expect(Object.keys(doc)).toEqual(["apiVersion", "kind", "sources"]);
    expect((doc.sources as Record<string, unknown>[])[0]).not.toHaveProperty("status");
    expect((doc.sources as Record<string, unknown>[])[1]!.credentials).toEqual({ secret: "TOKEN" });
  });

  it("goes to YAML and back unchanged", () => {
    const doc = editableDocument(VIEW);
    const text = toYaml(doc);
    expect(text).toContain("apiVersion: portal/v1\n");
    expect(text).toContain('tags: "*@*"');
    const parsed = parseYaml(text);
    expect(parsed).toEqual({ ok: true, value: doc });
  });

  it("reads YAML 1.2: yes is a string", () => {
    expect(parseYaml("a: yes\nb: true\n")).toEqual({ ok: true, value: { a: "yes", b: true } });
  });

  it("says where YAML does not parse", () => {
    const parsed = parseYaml("apiVersion: portal/v1\nsources:\n  - id: a\n   type: git\n");
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.line).toBeGreaterThanOrEqual(3);
  });

  it("refuses duplicate keys", () => {
    const parsed = parseYaml("kind: a\nkind: b\n");
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.line).toBe(2);
  });

  it("finds the sources the form can show, or why not", () => {
    expect(sourcesOf({ sources: [{ id: "a" }] })).toEqual({ sources: [{ id: "a" }] });
    expect(sourcesOf({ apiVersion: "portal/v1" })).toEqual({ sources: [] });
    expect(sourcesOf("text")).toHaveProperty("reason");
    expect(sourcesOf({ sources: "x" })).toHaveProperty("reason");
    expect(sourcesOf({ sources: [{}, 3] })).toEqual({ reason: "sources[1] is not a mapping." });
    expect(withSources(null, [{ id: "a" }])).toEqual({ apiVersion: "portal/v1", kind: "CatalogSources", sources: [{ id: "a" }] });
  });
});

describe("sources in the form", () => {
  it("makes new sources with the defaults and a free id", () => {
    expect(newSource("folder", [])).toEqual({ id: "folder", type: "folder", path: "", poll_seconds: 300, development: false, enabled: true });
    expect(newSource("git", ["repository"]).id).toBe("repository-2");
    expect(freeId("a", ["a", "a-2"])).toBe("a-3");
  });

  it("changes type keeping the id, interval and enabled, dropping the other type's fields", () => {
    const git = changeType({ id: "x", type: "folder", path: "/p", poll_seconds: 60, development: true, enabled: false }, "git");
    expect(git).toMatchObject({ id: "x", type: "git", poll_seconds: 60, enabled: false, tags: "*@*" });
    expect(git).not.toHaveProperty("development");
  });

  it("patches fields and removes undefined ones", () => {
    expect(patchSource({ id: "a", poll_seconds: 5 }, { poll_seconds: undefined, url: "u" })).toEqual({ id: "a", url: "u" });
  });

  it("reads number fields", () => {
    expect(numberOrText("60")).toBe(60);
    expect(numberOrText(" ")).toBeUndefined();
    expect(numberOrText("1.5")).toBe("1.5");
  });
});

describe("validation problems", () => {
  const problems = [
    { field: "sources[1].url", line: 9, message: "bad scheme" },
    { field: "kind", line: 2, message: "must be CatalogSources" },
    { field: "sources[0].credentials.secret", line: 6, message: "no such secret" },
    { field: "sources[1]", line: 7, message: "unknown field 'colour'" },
    { field: "sources[10].id", line: null, message: "taken" },
  ];

  it("groups them by source, the document's own first", () => {
    const groups = groupProblems(problems);
    expect(groups.map((g) => g.source)).toEqual([null, 0, 1, 10]);
    expect(groups[2]!.problems.map((p) => p.line)).toEqual([7, 9]);
  });

  it("finds a source's field", () => {
    expect(sourceIndex("sources[12].url")).toBe(12);
    expect(sourceIndex("kind")).toBeNull();
    expect(messagesAt(problems, 1, "url")).toEqual(["bad scheme"]);
    expect(messagesAt(problems, 0, "credentials")).toEqual(["no such secret"]);
    expect(messagesAt(problems, 1, "")).toEqual(["unknown field 'colour'"]);
    expect(messagesAt(problems, 1, "id")).toEqual([]);
  });
});

describe("words", () => {
  it("names states, known or not", () => {
    expect(stateBadge("available")).toEqual({ label: "Available", tone: "green" });
    expect(stateBadge("disabled").tone).toBe("stone");
    expect(stateBadge("refreshing")).toEqual({ label: "Refreshing", tone: "amber" });
    expect(stateBadge("rate_limited").label).toBe("Rate limited");
  });

  it("says poll intervals", () => {
    expect(pollText(0)).toBe("never");
    expect(pollText(300)).toBe("every 5 min");
    expect(pollText(5400)).toBe("every 1 h 30 min");
    expect(pollText(undefined)).toBe("every 5 min");
  });
});
