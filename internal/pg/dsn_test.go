package pg

import "testing"

func TestWithDatabaseKeepsTheForm(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p%40ss@db:5432/postgres?sslmode=require": "postgres://u:p%40ss@db:5432/acme_restored?sslmode=require",
		"host=db user=u dbname=postgres":                       "host=db user=u dbname=postgres dbname='acme_restored'",
	} {
		if got := WithDatabase(in, "acme_restored"); got != want {
			t.Errorf("WithDatabase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHasPassword(t *testing.T) {
	for dsn, want := range map[string]bool{
		"postgres://postgres@db:5432/postgres?sslmode=require":  false,
		"postgres://postgres:s3cret@db:5432/postgres":           true,
		"postgresql://postgres@db/postgres?password=s3cret":     true,
		"host=db port=5432 user=postgres dbname=postgres":       false,
		"host=db user=postgres password=s3cret dbname=postgres": true,
		"password = s3cret host=db":                             true,
	} {
		if got := HasPassword(dsn); got != want {
			t.Errorf("HasPassword(%q) = %v, want %v", dsn, got, want)
		}
	}
}
