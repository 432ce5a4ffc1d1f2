import { describe, expect, it } from "vitest";
import { fieldPath, toErrorSchema } from "./formErrors";

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
