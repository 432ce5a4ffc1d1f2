import type { RJSFSchema } from "@rjsf/utils";
import validator from "@rjsf/validator-ajv8";
import { describe, expect, it } from "vitest";
import cases from "./formMessages.cases.json";
import { transformErrorsFor } from "./formMessages";

type Case = { name: string; schema: RJSFSchema; inputs: Record<string, unknown>; errors: { field: string; message: string }[] };

describe("form errors in words (the same cases as the server's)", () => {
  for (const c of cases as unknown as Case[]) {
    it(c.name, () => {
      const { errors } = validator.validateFormData(c.inputs, c.schema, undefined, transformErrorsFor(c.schema));
      expect(errors.map((e) => e.message).sort()).toEqual(c.errors.map((e) => e.message).sort());
      expect(errors.every((e) => e.stack === e.message)).toBe(true);
    });
  }
});
