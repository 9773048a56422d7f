package restore_test

import (
	"os"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestMain starts PostgreSQL and MinIO for the acceptance tests (TF_ACC=1).
func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Spec{MinIO: 1, Postgres: true}))
}
