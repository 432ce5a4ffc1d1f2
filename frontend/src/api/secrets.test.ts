import { describe, expect, it } from "vitest";
import { SECRET_NAME_PATTERN } from "./secrets";

describe("SECRET_NAME_PATTERN", () => {
  it("accepts environment variable names", () => {
    for (const name of ["API_KEY", "_X", "A1", "BACKUP_2"]) expect(SECRET_NAME_PATTERN.test(name)).toBe(true);
    for (const name of ["", "1A", "api_key", "A-B", "A B", "ÄPI"]) expect(SECRET_NAME_PATTERN.test(name)).toBe(false);
  });
});
