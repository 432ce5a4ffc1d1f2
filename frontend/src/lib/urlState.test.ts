import { describe, expect, it } from "vitest";
import { readParams, writeParams } from "./urlState";

const defaults = { q: "", state: "", page: "1", sort: "-id" };

describe("readParams", () => {
  it("falls back to defaults for missing keys and ignores unknown ones", () => {
    const values = readParams(new URLSearchParams("q=backup&page=3&other=x"), defaults);
    expect(values).toEqual({ q: "backup", state: "", page: "3", sort: "-id" });
  });
});

describe("writeParams", () => {
  it("drops values equal to their default", () => {
    const next = writeParams(new URLSearchParams("q=a&sort=id"), defaults, { sort: "-id" });
    expect(next.toString()).toBe("q=a");
  });
  it("returns to page 1 when a filter changes", () => {
    const next = writeParams(new URLSearchParams("q=a&page=4"), defaults, { state: "RUNNING" });
    expect(next.get("page")).toBeNull();
    expect(next.get("state")).toBe("RUNNING");
  });
  it("keeps filters when only the page changes", () => {
    const next = writeParams(new URLSearchParams("q=a&state=FAILED"), defaults, { page: "2" });
    expect(next.toString()).toBe("q=a&state=FAILED&page=2");
  });
  it("clears a filter set to empty", () => {
    expect(writeParams(new URLSearchParams("q=a"), defaults, { q: "" }).toString()).toBe("");
  });
});
