package provider

import (
	"os"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestMain starts MinIO when TF_ACC is set; the translation tests need no
// service, the Pulumi CLI tests do.
func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Spec{MinIO: 1, Postgres: true}))
}
