package main

import (
	"os"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestMain starts PostgreSQL and MinIO for the acceptance tests (TF_ACC=1);
// without TF_ACC only the unit tests run.
func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Spec{MinIO: 1, Postgres: true, Redis: true}))
}
