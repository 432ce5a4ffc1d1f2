/**
 * Scheduled runs (`/api/admin/schedules`; operators read, admins change): an item version with fixed inputs on a
 * cron expression in a time zone, with the next runs of an expression previewed as one types it.
 */
import { useQuery } from "@tanstack/react-query";
import { adminKeys } from "./admin";
import { api, unwrap, type Job, type Schemas } from "./client";
import { useApiMutation, type MutationCallbacks } from "./mutations";

export type Schedule = Schemas["ScheduleOut"];
export type NextRun = Schemas["NextRun"];

/** What decides when a schedule runs. */
export interface Timing {
  cron: string;
  timezone: string;
}

/** Every schedule fits one page: there are few. */
const ALL_SCHEDULES = 500;
/** Their next and last runs move on their own: looked at again this often. */
const SCHEDULES_REFRESH_MS = 15_000;
const PREVIEW_RUNS = 5;

export const scheduleKeys = {
  all: [...adminKeys.all, "schedules"] as const,
  list: () => [...scheduleKeys.all, "list"] as const,
  detail: (id: number) => [...scheduleKeys.all, "detail", id] as const,
  preview: (timing: Timing) => [...scheduleKeys.all, "preview", timing] as const,
};

/** Every schedule, with its next and last run. */
export function useSchedules() {
  return useQuery({
    queryKey: scheduleKeys.list(),
    queryFn: () => unwrap(api.GET("/api/admin/schedules", { params: { query: { page_size: ALL_SCHEDULES } } })),
    refetchInterval: SCHEDULES_REFRESH_MS,
  });
}

/** One schedule with its next runs and recent ticks, while `id` is not null. */
export function useSchedule(id: number | null) {
  return useQuery({
    queryKey: scheduleKeys.detail(id ?? 0),
    queryFn: () => unwrap(api.GET("/api/admin/schedules/{schedule_id}", { params: { path: { schedule_id: id ?? 0 } } })),
    enabled: id !== null,
  });
}

/** The next runs of a cron expression in a time zone; a bad one is a 422 naming its field, not retried. */
export function useSchedulePreview(timing: Timing) {
  return useQuery({
    queryKey: scheduleKeys.preview(timing),
    queryFn: () =>
      unwrap(api.POST("/api/admin/schedules/preview", { body: { cron: timing.cron, timezone: timing.timezone, count: PREVIEW_RUNS } })),
    enabled: timing.cron.trim() !== "" && timing.timezone.trim() !== "",
    retry: false,
    // The last good preview stays shown while the next one is computed.
    placeholderData: (previous) => previous,
  });
}

/** A new schedule (`original` null) or the new state of an existing one. */
export interface ScheduleDraft {
  original: Schedule | null;
  body: Schemas["ScheduleCreate"];
}

/** Create a schedule or save an existing one. */
export function useSaveSchedule(callbacks?: MutationCallbacks<Schedule, ScheduleDraft>) {
  return useApiMutation(
    {
      mutationFn: ({ original, body }: ScheduleDraft): Promise<Schedule> =>
        original
          ? unwrap(api.PATCH("/api/admin/schedules/{schedule_id}", { params: { path: { schedule_id: original.id } }, body }))
          : unwrap(api.POST("/api/admin/schedules", { body })),
      invalidates: () => [scheduleKeys.all],
    },
    callbacks,
  );
}

/** Enable a disabled schedule or disable an enabled one. */
export function useToggleSchedule(callbacks?: MutationCallbacks<Schedule, Schedule>) {
  return useApiMutation(
    {
      mutationFn: (schedule: Schedule) => {
        const path = { params: { path: { schedule_id: schedule.id } } };
        return unwrap(
          schedule.enabled
            ? api.POST("/api/admin/schedules/{schedule_id}/disable", path)
            : api.POST("/api/admin/schedules/{schedule_id}/enable", path),
        );
      },
      invalidates: () => [scheduleKeys.all],
    },
    callbacks,
  );
}

/** Start a job of a schedule now, whatever its next run. */
export function useRunSchedule(callbacks?: MutationCallbacks<Job, Schedule>) {
  return useApiMutation(
    {
      mutationFn: (schedule: Schedule) =>
        unwrap(api.POST("/api/admin/schedules/{schedule_id}/run", { params: { path: { schedule_id: schedule.id } } })),
    },
    callbacks,
  );
}

/** Delete a schedule; the jobs it created stay. */
export function useDeleteSchedule(callbacks?: MutationCallbacks<void, Schedule>) {
  return useApiMutation(
    {
      mutationFn: async (schedule: Schedule) => {
        await unwrap(api.DELETE("/api/admin/schedules/{schedule_id}", { params: { path: { schedule_id: schedule.id } } }));
      },
      invalidates: () => [scheduleKeys.all],
    },
    callbacks,
  );
}
