"""The one sandbox primitive for child processes on the host (bubblewrap, cgroups, seccomp, limits). Imports only validator.core."""
