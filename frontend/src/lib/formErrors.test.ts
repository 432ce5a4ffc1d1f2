import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import { alertText, errorText, fieldMatches, fieldMessages, fieldPath, problemsOf, toErrorSchema } from "./formErrors";

describe("fieldPath", () => {
  it("splits dotted and indexed paths", () => {
    expect(fieldPath("devices[1]")).toEqual(["devices", "1"]);
    expect(fieldPath("a.b[2].c")).toEqual(["a", "b", "2", "c"]);
    expect(fieldPath("(root)")).toEqual([]);
    expect(fieldPath(undefined)).toEqual([]);
  });
});

describe("toErrorSchema", () => {
  it("puts each message on its field and collects several per field", () => {
    const tree = toErrorSchema([
      { field: "bucket", message: "too short" },
      { field: "bucket", message: "bad pattern" },
      { field: "devices[1]", message: "not a hostname" },
      { field: "(root)", message: "object is broken" },
    ]);
    expect(tree).toEqual({
      __errors: ["object is broken"],
      bucket: { __errors: ["too short", "bad pattern"] },
      devices: { 1: { __errors: ["not a hostname"] } },
    });
  });
});

describe("alertText", () => {
  it("does not say the title twice", () => {
    expect(alertText("The password was not changed", "the password was not changed")).toBe("The password was not changed");
    expect(alertText("The secret was not created", "secret 'X' already exists")).toBe("The secret was not created: secret 'X' already exists");
    expect(alertText(undefined, "wrong password")).toBe("wrong password");
  });
});

describe("server problems", () => {
  const validation = new ApiError(422, "validation_failed", "the password was not changed", [
    { field: "current_password", message: "wrong password" },
    { field: "new_password", message: "too short" },
    { field: "items[1]", message: "unknown item" },
  ], null);

  it("reads the list of field problems", () => {
    expect(problemsOf(validation)).toHaveLength(3);
    expect(fieldMessages(validation, "current_password")).toEqual(["wrong password"]);
    expect(fieldMessages(validation, "items")).toEqual(["unknown item"]);
    expect(fieldMessages(validation, "name")).toEqual([]);
  });

  it("reads a conflict's single field as a problem with the error's message", () => {
    const conflict = new ApiError(409, "conflict", "secret 'X' already exists", { field: "name" }, null);
    expect(problemsOf(conflict)).toEqual([{ field: "name", message: "secret 'X' already exists" }]);
    const rule = new ApiError(409, "conflict", "last admin", { rule: "last_admin" }, null);
    expect(problemsOf(rule)).toEqual([]);
  });

  it("has no problems for other errors", () => {
    expect(problemsOf(new Error("boom"))).toEqual([]);
    expect(problemsOf(undefined)).toEqual([]);
    expect(errorText(new Error("boom"))).toBe("boom");
    expect(errorText("plain")).toBe("plain");
  });

  it("matches a field and what is inside it, not names that merely start alike", () => {
    expect(fieldMatches("items", "items")).toBe(true);
    expect(fieldMatches("items[0]", "items")).toBe(true);
    expect(fieldMatches("name.first", "name")).toBe(true);
    expect(fieldMatches("items_count", "items")).toBe(false);
    expect(fieldMatches(undefined, "items")).toBe(false);
  });
});
