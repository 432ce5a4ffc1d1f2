import { describe, expect, it } from "vitest";
import { formatBytes, formatNumber, formatPercent, formatUptime, num, obj, str } from "./format";

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
