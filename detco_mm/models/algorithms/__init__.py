"""DetCo algorithms."""
