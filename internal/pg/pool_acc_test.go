package pg_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccPoolSurvivesServerRestart: the first query on the shared pool
// after PostgreSQL restarted (as applying archive settings does) runs on a
// live connection, not on one the restart terminated.
func TestAccPoolSurvivesServerRestart(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1 (make test does)")
	}
	ctx := context.Background()
	srv, err := testenv.StartPostgres(ctx, filepath.Join(testenv.Dir(t), "pg"), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	pool, err := pg.Pool(ctx, srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	// Fill the pool with more than one connection, each used just now.
	for i := 0; i < 3; i++ {
		for _, q := range []string{"SELECT pg_sleep(0.05)", "SELECT 1"} {
			if _, err := pool.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
	}
	for round := 0; round < 2; round++ {
		if err := srv.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		var one int
		if err := pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Fatalf("round %d: first query after a restart: %v (%d)", round, err, one)
		}
	}
}
