package drill

import (
	"os"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestMain starts MinIO and Redis for the acceptance tests (TF_ACC=1).
func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Spec{MinIO: 1, Redis: true}))
}
