"""Facts about typed IR: types and activity, what NumPy would do that the passes would not see, size facts."""
