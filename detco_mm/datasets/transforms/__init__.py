"""DetCo data transforms."""
