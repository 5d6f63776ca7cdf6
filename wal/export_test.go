package wal

// CheckLog exposes the scan check of helpers_test.go to the external test
// package (crash_test.go), which cannot use package-internal helpers.
var CheckLog = checkLog
