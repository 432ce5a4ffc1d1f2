import { describe, expect, it } from "vitest";
import { detailIdOf, jobKeys, listParamsOf, type JobListParams } from "./jobs";

const params: JobListParams = { state: "", kind: "", item_id: "", q: "", page: 1, page_size: 50, sort: "-id" };

describe("job query keys", () => {
  it("nest lists, details and timelines under the jobs so that one prefix reaches them", () => {
    expect(jobKeys.list(params).slice(0, 2)).toEqual(jobKeys.lists());
    expect(jobKeys.timeline(7, 12).slice(0, 3)).toEqual(jobKeys.detail(7));
    expect(jobKeys.approvals().slice(0, 1)).toEqual(jobKeys.all);
  });

  it("tell a list's parameters and a job's id back from their keys, and nothing else", () => {
    expect(listParamsOf(jobKeys.list(params))).toEqual(params);
    expect(listParamsOf(jobKeys.detail(7))).toBeUndefined();
    expect(listParamsOf([...jobKeys.lists(), { ...params, page: "1" }])).toBeUndefined();
    expect(detailIdOf(jobKeys.detail(7))).toBe(7);
    expect(detailIdOf(jobKeys.timeline(7, 12))).toBeUndefined();
    expect(detailIdOf(jobKeys.approvals())).toBeUndefined();
    expect(detailIdOf(["catalog", "detail", 7])).toBeUndefined();
  });
});
