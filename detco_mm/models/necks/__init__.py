"""DetCo necks."""
