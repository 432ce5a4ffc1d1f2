# __ITEM_ID__ __ITEM_VERSION__: the work of this item, run by task.py with /bin/sh in the job sandbox.
#
# Replace the body with your team's script. What it gets and gives:
# - its inputs as environment variables: INPUT_TARGET (a lowercased hostname) and INPUT_DRY_RUN (true or false);
# - a line "PROGRESS <percent> <message>" moves the job's progress bar;
# - every other line it prints (stdout or stderr) is a log line of the job; the last 20 are in the result;
# - exit status 0 is success, anything else fails the job with the last line printed.
# The current directory is the job's scratch space (gone after the run); the item's own files are read-only.
set -eu

echo "PROGRESS 10 Inspecting $INPUT_TARGET"
echo "worker kernel: $(uname -sr)"
echo "scratch space: $(df -Pk . | tail -n 1)"

echo "PROGRESS 60 Applying the change"
if [ "$INPUT_DRY_RUN" = "true" ]; then
    echo "dry run: would update $INPUT_TARGET"
else
    # Your work: the real change, e.g. ssh "$INPUT_TARGET" sudo systemctl restart my-service (declare network: [22])
    echo "updated $INPUT_TARGET"
fi

echo "PROGRESS 100 Done"
