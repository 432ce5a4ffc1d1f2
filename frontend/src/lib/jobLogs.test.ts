import { describe, expect, it } from "vitest";
import { LogBuffer } from "./jobLogs";

const line = (id: number) => ({ id, stream: "stdout", line: `line ${id}` });

describe("LogBuffer", () => {
  it("joins fetched and streamed lines without repeats", () => {
    const buffer = new LogBuffer(100);
    expect(buffer.add([line(1), line(2), line(3)])).toBe(true);
    expect(buffer.add([line(2), line(3)])).toBe(false);
    expect(buffer.add([line(3), line(4)])).toBe(true);
    expect(buffer.snapshot().map((l) => l.id)).toEqual([1, 2, 3, 4]);
  });
  it("puts a streamed line that overtook the fetched pages in its place", () => {
    const buffer = new LogBuffer(100);
    buffer.add([line(1), line(2)]);
    buffer.add([line(9)]); // streamed while pages 3-8 were still being fetched
    buffer.add([line(3), line(4), line(5), line(6), line(7), line(8)]);
    expect(buffer.snapshot().map((l) => l.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
  it("keeps only the newest lines and counts the dropped ones", () => {
    const buffer = new LogBuffer(3);
    buffer.add([1, 2, 3, 4, 5].map(line));
    expect(buffer.snapshot().map((l) => l.id)).toEqual([3, 4, 5]);
    expect(buffer.dropped).toBe(2);
  });
});
