import { describe, expect, it } from "vitest";
import { withRunButton } from "./catalog";

describe("withRunButton", () => {
  it("names the launch button after the item unless ui.json names it", () => {
    expect(withRunButton({}, "Failing task")["ui:submitButtonOptions"]).toEqual({ submitText: "Run Failing task" });
    const named = { "ui:submitButtonOptions": { submitText: "Start backup" } };
    expect(withRunButton(named, "Backup")).toBe(named);
    const styled = withRunButton({ "ui:submitButtonOptions": { norender: false } }, "Noop");
    expect(styled["ui:submitButtonOptions"]).toEqual({ norender: false, submitText: "Run Noop" });
  });
});
