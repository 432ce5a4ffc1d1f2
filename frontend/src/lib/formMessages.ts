/**
 * The form's schema errors in words: the field named by its title, what is expected said plainly. The server's
 * 422 says the same (src/portal/catalog/input_messages.py); both are checked against formMessages.cases.json.
 * An item may give its own message with `errorMessage` on a field's schema: a string, or an object by keyword.
 */
import type { RJSFSchema, RJSFValidationError } from "@rjsf/utils";

type Node = Record<string, unknown>;

const TYPES: Record<string, string> = {
  string: "text",
  integer: "a whole number",
  number: "a number",
  boolean: "true or false",
  array: "a list",
  object: "a group of fields",
  null: "empty",
};
const FORMATS: Record<string, string> = {
  email: "an email address",
  uri: "a URL",
  date: "a date (YYYY-MM-DD)",
  "date-time": "a date and time",
  time: "a time",
  hostname: "a host name",
  ipv4: "an IPv4 address",
  ipv6: "an IPv6 address",
  uuid: "a UUID",
};
const BOUNDS: Record<string, (label: string, value: string) => string> = {
  minimum: (label, value) => `${label} must be ${value} or more`,
  maximum: (label, value) => `${label} must be ${value} or less`,
  exclusiveMinimum: (label, value) => `${label} must be more than ${value}`,
  exclusiveMaximum: (label, value) => `${label} must be less than ${value}`,
};

function isNode(value: unknown): value is Node {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A schema value as a message shows it: text as it is, the rest as JSON. */
export function valueText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The schema of the field at `path` and its label: its title, or its name, or "<list's label> entry N". */
function fieldAt(schema: RJSFSchema, path: string[]): [Node, string] {
  let node: Node = schema as Node;
  let label = "The inputs";
  for (const part of path) {
    if (isNode(node.items) && /^\d+$/.test(part)) {
      node = node.items;
      label = `${label} entry ${Number(part) + 1}`;
    } else {
      const properties = isNode(node.properties) ? node.properties : {};
      node = isNode(properties[part]) ? properties[part] : {};
      label = typeof node.title === "string" && node.title ? node.title : part;
    }
  }
  return [node, label];
}

function ownMessage(field: Node, keyword: string): string | undefined {
  const custom = field.errorMessage;
  if (typeof custom === "string" && custom.trim()) return custom;
  if (isNode(custom) && typeof custom[keyword] === "string" && (custom[keyword] as string).trim()) return custom[keyword] as string;
  return undefined;
}

/** One problem in words: `keyword` failed with the field schema's `value` for it. */
export function describe(keyword: string, value: unknown, field: Node, label: string, fallback: string): string {
  const own = ownMessage(field, keyword);
  if (own !== undefined) return own;
  switch (keyword) {
    case "required":
      return `${label} is required`;
    case "type":
      return `${label} must be ${(Array.isArray(value) ? value : [value]).map((t) => TYPES[String(t)] ?? String(t)).join(" or ")}`;
    case "minLength":
      return value === 1 ? `${label} cannot be empty` : `${label} must be at least ${valueText(value)} characters long`;
    case "maxLength":
      return `${label} must be at most ${valueText(value)} characters long`;
    case "multipleOf":
      return `${label} must be a multiple of ${valueText(value)}`;
    case "pattern": {
      const description = typeof field.description === "string" ? field.description.trim() : "";
      return description ? `${label} is not valid: ${description}` : `${label} is not in the expected form`;
    }
    case "format":
      return `${label} must be ${FORMATS[String(value)] ?? `in the ${String(value)} format`}`;
    case "enum":
      return Array.isArray(value) ? `${label} must be one of: ${value.map(valueText).join(", ")}` : `${label}: ${fallback}`;
    case "const":
      return `${label} must be ${valueText(value)}`;
    case "minItems":
      return value === 1 ? `${label} needs at least one entry` : `${label} needs at least ${valueText(value)} entries`;
    case "maxItems":
      return `${label} can have at most ${valueText(value)} entries`;
    case "uniqueItems":
      return `${label} has the same entry more than once`;
  }
  const bound = BOUNDS[keyword];
  return bound ? bound(label, valueText(value)) : `${label}: ${fallback}`;
}

/** An error of react-jsonschema-form (ajv) in words: its message and stack both read as the server's would. */
export function inWords(error: RJSFValidationError, schema: RJSFSchema): RJSFValidationError {
  const keyword = error.name ?? "";
  const params = (error.params ?? {}) as Record<string, unknown>;
  if (keyword === "additionalProperties" && typeof params.additionalProperty === "string") {
    const message = `${params.additionalProperty} is not an input of this item`;
    return { ...error, message, stack: message };
  }
  const path = (error.property ?? "").replace(/^\./, "").split(".").filter(Boolean);
  const [field, label] = fieldAt(schema, path);
  const value = keyword === "required" ? undefined : field[keyword];
  const message = describe(keyword, value, field, label, error.message ?? "is not valid");
  return { ...error, message, stack: message };
}

/** rjsf's `transformErrors` for a form of `schema`. */
export function transformErrorsFor(schema: RJSFSchema): (errors: RJSFValidationError[]) => RJSFValidationError[] {
  return (errors) => errors.map((error) => inWords(error, schema));
}
