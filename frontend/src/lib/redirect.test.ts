import { describe, expect, it } from "vitest";
import { safeNext } from "./redirect";

describe("safeNext", () => {
  const origin = "http://portal.example";
  it("keeps paths on this origin", () => {
    expect(safeNext("/jobs?state=FAILED#x", origin)).toBe("/jobs?state=FAILED#x");
  });
  it("refuses anything that leaves the origin", () => {
    for (const next of ["//evil.example", "/\\evil.example", "https://evil.example/", "javascript:alert(1)", null, ""]) {
      expect(safeNext(next, origin)).toBe("/catalog");
    }
  });
});
