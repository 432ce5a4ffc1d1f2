import { describe, expect, it } from "vitest";
import { tokenStatus } from "./tokens";

describe("tokenStatus", () => {
  const now = Date.parse("2030-01-01T00:00:00Z");
  it("tells revoked, expired, refused and active tokens apart", () => {
    expect(tokenStatus({ revoked_at: "2029-01-01T00:00:00Z", expires_at: null }, now)).toBe("revoked");
    expect(tokenStatus({ revoked_at: null, expires_at: "2029-12-31T00:00:00Z" }, now)).toBe("expired");
    expect(tokenStatus({ revoked_at: null, expires_at: "2030-02-01T00:00:00Z" }, now)).toBe("active");
    expect(tokenStatus({ revoked_at: null, expires_at: null }, now)).toBe("active");
    expect(tokenStatus({ revoked_at: null, expires_at: null }, now, true)).toBe("refused");
    expect(tokenStatus({ revoked_at: "2029-01-01T00:00:00Z", expires_at: null }, now, true)).toBe("revoked");
  });
});
