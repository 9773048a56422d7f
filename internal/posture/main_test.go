package posture_test

import (
	"os"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestMain starts MinIO, Redis and a PostgreSQL whose archiver runs (archive_command
// = true: base backups wait for their WAL to be archived), for the
// acceptance tests (TF_ACC=1).
func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Spec{MinIO: 1, Postgres: true, Redis: true,
		PostgresConf: []string{"archive_mode = on", "archive_command = 'true'"}}))
}
