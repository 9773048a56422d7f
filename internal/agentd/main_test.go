package agentd

import (
	"os"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Spec{MinIO: 2}))
}
