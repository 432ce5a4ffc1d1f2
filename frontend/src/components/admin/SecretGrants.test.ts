import { describe, expect, it } from "vitest";
import { joinGrant, splitGrant } from "./SecretGrants";

describe("secret grants", () => {
  it("splits an entry at its first @ only", () => {
    expect(splitGrant("backup@^1.2.0 || =2.0.0")).toEqual(["backup", "^1.2.0 || =2.0.0"]);
    expect(splitGrant("backup")).toEqual(["backup", ""]);
  });
  it("writes a bare item when no versions are given", () => {
    expect(joinGrant("backup", "  ")).toBe("backup");
    expect(joinGrant("backup", " ^1.0.0 ")).toBe("backup@^1.0.0");
  });
});
