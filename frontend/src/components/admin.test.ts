import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import {
  describedBy,
  errorText,
  fieldMatches,
  fieldMessages,
  formatBytes,
  formatNumber,
  formatPercent,
  formatUptime,
  num,
  obj,
  problemsOf,
  SECRET_NAME_PATTERN,
  str,
  tokenStatus,
} from "./admin";

describe("formatBytes", () => {
  it("uses powers of 1024 with at most three significant digits", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1024)).toBe("1 KB");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(12.34 * 1024 ** 2)).toBe("12.3 MB");
    expect(formatBytes(512 * 1024 ** 3)).toBe("512 GB");
    expect(formatBytes(3.456 * 1024 ** 3)).toBe("3.46 GB");
    expect(formatBytes(2 * 1024 ** 4)).toBe("2 TB");
  });

  it("shows a dash for unknown or nonsense values", () => {
    expect(formatBytes(null)).toBe("—");
    expect(formatBytes(undefined)).toBe("—");
    expect(formatBytes(-1)).toBe("—");
    expect(formatBytes(Number.NaN)).toBe("—");
  });
});

describe("formatUptime", () => {
  it("gives the two largest units", () => {
    expect(formatUptime(0)).toBe("0 s");
    expect(formatUptime(45.7)).toBe("45 s");
    expect(formatUptime(60)).toBe("1 min");
    expect(formatUptime(12 * 60 + 59)).toBe("12 min");
    expect(formatUptime(3 * 3600 + 12 * 60 + 5)).toBe("3 h 12 min");
    expect(formatUptime(5 * 3600)).toBe("5 h");
    expect(formatUptime(2 * 86400 + 4 * 3600 + 30 * 60)).toBe("2 d 4 h");
    expect(formatUptime(3 * 86400)).toBe("3 d");
  });

  it("shows a dash for unknown values", () => {
    expect(formatUptime(null)).toBe("—");
    expect(formatUptime(-5)).toBe("—");
  });
});

describe("formatPercent and formatNumber", () => {
  it("formats ratios as percentages", () => {
    expect(formatPercent(0)).toBe("0 %");
    expect(formatPercent(0.025)).toBe("2.5 %");
    expect(formatPercent(1)).toBe("100 %");
    expect(formatPercent(0.12345, 2)).toBe("12.35 %");
    expect(formatPercent(null)).toBe("—");
  });

  it("formats numbers and dashes unknown ones", () => {
    expect(formatNumber(null)).toBe("—");
    expect(formatNumber(2)).toBe((2).toLocaleString());
  });
});

describe("reading loosely typed status objects", () => {
  it("takes numbers, strings and objects only when they are of that kind", () => {
    expect(num(3)).toBe(3);
    expect(num("3")).toBeNull();
    expect(num(Number.NaN)).toBeNull();
    expect(str("x")).toBe("x");
    expect(str(42)).toBe("42");
    expect(str(null)).toBeNull();
    expect(str({})).toBeNull();
    expect(obj({ a: 1 })).toEqual({ a: 1 });
    expect(obj(null)).toEqual({});
    expect(obj([1])).toEqual({});
  });
});

describe("SECRET_NAME_PATTERN", () => {
  it("accepts environment variable names", () => {
    for (const name of ["API_KEY", "_X", "A1", "BACKUP_2"]) expect(SECRET_NAME_PATTERN.test(name)).toBe(true);
    for (const name of ["", "1A", "api_key", "A-B", "A B", "ÄPI"]) expect(SECRET_NAME_PATTERN.test(name)).toBe(false);
  });
});

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

describe("server problems", () => {
  const validation = new ApiError(422, "validation_failed", "the password was not changed", [
    { field: "current_password", message: "wrong password" },
    { field: "new_password", message: "too short" },
    { field: "items[1]", message: "unknown item" },
  ], null);

  it("reads the list of field problems", () => {
    expect(problemsOf(validation)).toHaveLength(3);
    expect(fieldMessages(validation, "current_password")).toEqual(["wrong password"]);
    expect(fieldMessages(validation, "items")).toEqual(["unknown item"]);
    expect(fieldMessages(validation, "name")).toEqual([]);
  });

  it("reads a conflict's single field as a problem with the error's message", () => {
    const conflict = new ApiError(409, "conflict", "secret 'X' already exists", { field: "name" }, null);
    expect(problemsOf(conflict)).toEqual([{ field: "name", message: "secret 'X' already exists" }]);
    const rule = new ApiError(409, "conflict", "last admin", { rule: "last_admin" }, null);
    expect(problemsOf(rule)).toEqual([]);
  });

  it("has no problems for other errors", () => {
    expect(problemsOf(new Error("boom"))).toEqual([]);
    expect(problemsOf(undefined)).toEqual([]);
    expect(errorText(new Error("boom"))).toBe("boom");
    expect(errorText("plain")).toBe("plain");
  });

  it("matches a field and what is inside it, not names that merely start alike", () => {
    expect(fieldMatches("items", "items")).toBe(true);
    expect(fieldMatches("items[0]", "items")).toBe(true);
    expect(fieldMatches("name.first", "name")).toBe(true);
    expect(fieldMatches("items_count", "items")).toBe(false);
    expect(fieldMatches(undefined, "items")).toBe(false);
  });

  it("joins the ids that describe a field", () => {
    expect(describedBy("a-hint", false, "a-error")).toBe("a-hint a-error");
    expect(describedBy(false, null, undefined)).toBeUndefined();
  });
});
