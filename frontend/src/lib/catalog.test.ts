import { describe, expect, it } from "vitest";
import { withoutRepeatedHeader, withRunButton } from "./catalog";

describe("withRunButton", () => {
  it("names the launch button after the item unless ui.json names it", () => {
    expect(withRunButton({}, "Failing task")["ui:submitButtonOptions"]).toEqual({ submitText: "Run Failing task" });
    const named = { "ui:submitButtonOptions": { submitText: "Start backup" } };
    expect(withRunButton(named, "Backup")).toBe(named);
    const styled = withRunButton({ "ui:submitButtonOptions": { norender: false } }, "Noop");
    expect(styled["ui:submitButtonOptions"]).toEqual({ norender: false, submitText: "Run Noop" });
  });
});

describe("withoutRepeatedHeader", () => {
  it("drops the root title, and the description the page already shows", () => {
    const schema = { type: "object", title: "Noop", description: "Takes no inputs." };
    expect(withoutRepeatedHeader(schema, "Takes no inputs.")).toEqual({ type: "object" });
    expect(withoutRepeatedHeader(schema, "Something else")).toEqual({ type: "object", description: "Takes no inputs." });
    const bare: { type: string; title?: string } = { type: "object" };
    expect(withoutRepeatedHeader(bare, undefined)).toEqual({ type: "object" });
  });
});
