// Intentionally empty: the target exists to export include/plumise_plugin.h.
