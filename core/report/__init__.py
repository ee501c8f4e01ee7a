"""Reports: reading run outputs, diagnosis of raw outputs, report.md / report.html and their plots."""
