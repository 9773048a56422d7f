package provider

import (
	"testing"
	"time"
)

func TestParseArchiveCommandReadsWhatDesiredWrites(t *testing.T) {
	for _, c := range []struct{ agent, cfg string }{
		{"/usr/local/bin/lifeboat", "/etc/lifeboat/main.json"},
		{"/opt/life boat/lifeboat", "/etc/lifeboat/odoo main.json"},
	} {
		cmd := shellQuote(c.agent) + " wal-push --config " + shellQuote(c.cfg) + " %p"
		agent, cfg, ok := parseArchiveCommand(cmd)
		if !ok || agent != c.agent || cfg != c.cfg {
			t.Errorf("parseArchiveCommand(%q) = %q, %q, %v; want %q, %q", cmd, agent, cfg, ok, c.agent, c.cfg)
		}
	}
	for _, cmd := range []string{"", "cp %p /mnt/archive/%f", "pgbackrest --stanza=main archive-push %p", "/bin/false # lifeboat_wal_archive paused"} {
		if _, _, ok := parseArchiveCommand(cmd); ok {
			t.Errorf("parseArchiveCommand(%q) matched another tool's command", cmd)
		}
	}
}

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

func TestDSNHasPassword(t *testing.T) {
	for dsn, want := range map[string]bool{
		"postgres://postgres@db:5432/postgres?sslmode=require":  false,
		"postgres://postgres:s3cret@db:5432/postgres":           true,
		"postgresql://postgres@db/postgres?password=s3cret":     true,
		"host=db port=5432 user=postgres dbname=postgres":       false,
		"host=db user=postgres password=s3cret dbname=postgres": true,
		"password = s3cret host=db":                             true,
	} {
		if got := dsnHasPassword(dsn); got != want {
			t.Errorf("dsnHasPassword(%q) = %v, want %v", dsn, got, want)
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
