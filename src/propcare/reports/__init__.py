"""Reports: the monthly service report (月度服务报告) as HTML, XLSX and CSV."""
