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
