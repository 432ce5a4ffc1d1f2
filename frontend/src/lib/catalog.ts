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

/** The item's schema for its form, without what the page's header already says: the root title (the item's
 * name is the heading), and the root description when it is the manifest's. */
export function withoutRepeatedHeader<S extends { title?: string; description?: string }>(
  schema: S,
  manifestDescription: string | undefined,
): S {
  const { title: _title, description, ...rest } = schema;
  const repeated = !description || description.trim() === (manifestDescription ?? "").trim();
  return (repeated ? rest : { ...rest, description }) as S;
}
