import { describe, expect, it } from "vitest";
import { describedBy } from "./forms";

describe("describedBy", () => {
  it("joins the ids that describe a field", () => {
    expect(describedBy("a-hint", false, "a-error")).toBe("a-hint a-error");
    expect(describedBy(false, null, undefined)).toBeUndefined();
  });
});
