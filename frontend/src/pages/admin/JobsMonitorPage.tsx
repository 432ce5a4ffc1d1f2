/** `/admin/jobs`: every job, with operator actions, selection, bulk actions and a detail drawer. */
import { JobsView } from "../../components/jobs/JobsView";

export default function JobsMonitorPage() {
  return <JobsView admin />;
}
