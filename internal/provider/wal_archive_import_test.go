package provider

import (
	"testing"
	"time"
)

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		10 * time.Second: "10s", 5 * time.Minute: "5m", 150 * time.Second: "2m30s",
		time.Hour: "1h", 90 * time.Minute: "1h30m", time.Hour + time.Second: "1h0m1s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(shortDuration(d)); err != nil || back != d {
			t.Errorf("%q does not parse back to %s", shortDuration(d), d)
		}
	}
}

func TestParseRepositoryPath(t *testing.T) {
	for id, want := range map[string][3]string{
		"acme/main":          {"acme", "", "main"},
		"acme/pg/main":       {"acme", "pg", "main"},
		"acme/eu/pg/main-01": {"acme", "eu/pg", "main-01"},
	} {
		ref, cluster, ok := parseRepositoryPath(id)
		if !ok || ref.Bucket.ValueString() != want[0] || ref.Prefix.ValueString() != want[1] || cluster != want[2] {
			t.Errorf("parseRepositoryPath(%q) = %v %v %q %v, want %v", id, ref.Bucket, ref.Prefix, cluster, ok, want)
		}
	}
	for _, id := range []string{"", "main", "/main", "acme/"} {
		if _, _, ok := parseRepositoryPath(id); ok {
			t.Errorf("parseRepositoryPath(%q) accepted", id)
		}
	}
}
