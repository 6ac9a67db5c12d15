package main

import (
	"strings"
	"testing"
	"time"
)

// TestIssue13Goals checks each goal line's verdict on both sides of it.
func TestIssue13Goals(t *testing.T) {
	const mib = 1 << 20
	sizes := []sizeRow{{"add-targets", 15 * mib}, {"authorizer", 6 * mib}, {"get-target", 9 * mib}, {"list-outdials", 10 * mib}}
	cold := []coldStartRow{{Name: "add-targets", Median: 90 * time.Millisecond}, {Name: "authorizer", Median: 20 * time.Millisecond}, {Name: "get-target", Median: 40 * time.Millisecond}}
	want := []string{
		"goal authorizer <= 8 MiB: 6.00 MiB, met",
		"goal every other function but add-targets <= 14 MiB: largest list-outdials 10.00 MiB, met",
		"goal average <= 11.5 MiB: 10.00 MiB over 4 functions, met",
		"goal cold start <= 40 ms but add-targets: over it: none; met",
	}
	if got := issue13Goals(sizes, cold); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("goals:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	sizes = append(sizes, sizeRow{"authorizer", 9 * mib}, sizeRow{"create-outdial", 15 * mib})
	cold = append(cold, coldStartRow{Name: "create-outdial", Median: 41 * time.Millisecond})
	got := issue13Goals(sizes, cold)
	for i, w := range []string{
		"goal authorizer <= 8 MiB: 9.00 MiB, NOT MET",
		"goal every other function but add-targets <= 14 MiB: largest create-outdial 15.00 MiB, NOT MET",
		"goal average <= 11.5 MiB: 10.67 MiB over 6 functions, met",
		"goal cold start <= 40 ms but add-targets: over it: create-outdial 41 ms; NOT MET",
	} {
		if got[i] != w {
			t.Errorf("goal %d: %q, want %q", i, got[i], w)
		}
	}
}
