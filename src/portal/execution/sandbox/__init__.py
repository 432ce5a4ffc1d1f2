"""The kernel side of job containment: namespaces, mounts, privileges, seccomp and Landlock.

Standard library only: the zygote imports it before forking and every forked child runs it, so every import here
is paid by every job. Nothing in this package talks to the database or knows about jobs; it turns a plain spec
(dicts of paths, ids and numbers) into a confined process.
"""
