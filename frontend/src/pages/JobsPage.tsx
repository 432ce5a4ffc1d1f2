/** `/jobs`: the jobs the user may see (the table is shared with the admin monitor). */
import { JobsView } from "../components/jobs/JobsView";

export default function JobsPage() {
  return <JobsView admin={false} />;
}
