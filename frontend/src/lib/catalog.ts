/** Catalog facts in words, for the catalog and item pages. */
import type { UiSchema } from "@rjsf/utils";

/** What network access an item declares, in words: null is none, {} any outbound TCP port, or the ports listed. */
export function describeNetwork(need: { tcp_ports?: number[] } | null | undefined): string | null {
  if (need === null || need === undefined) return null;
  const ports = need.tcp_ports;
  return ports && ports.length > 0 ? `outbound TCP port${ports.length > 1 ? "s" : ""} ${ports.join(", ")}` : "any outbound TCP port";
}

/** The form's launch button named after the item ("Run Failing task") unless its ui.json names it. */
export function withRunButton(ui: UiSchema, itemName: string): UiSchema {
  const options = (ui["ui:submitButtonOptions"] ?? {}) as { submitText?: string };
  if (options.submitText) return ui;
  return { ...ui, "ui:submitButtonOptions": { ...options, submitText: `Run ${itemName}` } };
}
