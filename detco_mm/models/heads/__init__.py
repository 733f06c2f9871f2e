"""DetCo heads."""
