"""Static reports: learning curves, the EDA report."""
